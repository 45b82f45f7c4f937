package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/polyfork/polyfork/protocol"
)

// spawned is a child just started, with the host's ends of its streams.
type spawned struct {
	cmd     *exec.Cmd
	fromCh  *os.File // frames from the child (nil with ChannelNone)
	toCh    *os.File // frames to the child (nil with ChannelNone)
	stderr  *os.File // the child's stderr, to relay, or nil (console)
	stdout  *os.File // the child's stdout, to relay (channel on descriptors, or none), or nil
	console *os.File // the host's end of the child's terminal (console), or nil
	tty     *os.File // the child's end of its terminal, kept open by the host until the child is reaped
}

// spawn starts argv as cfg says. On failure nothing is left open or running.
func spawn(ctx context.Context, argv []string, conn connConfig, cfg procConfig) (*spawned, error) {
	var files []*os.File // every pipe end, closed on failure
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			files = append(files, r, w)
		}
		return r, w, err
	}
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	fail := func(err error) (*spawned, error) {
		closeAll()
		return nil, &StartError{Argv: argv, Err: err}
	}

	var toR, toW, fromR, fromW *os.File
	var err error
	hasChannel := cfg.channel != ChannelNone
	if hasChannel {
		if toR, toW, err = pipe(); err != nil { // host -> child
			return fail(pipeError(err))
		}
		if fromR, fromW, err = pipe(); err != nil { // child -> host
			return fail(pipeError(err))
		}
		growPipe(toW)
		growPipe(fromW)
	}

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = cfg.dir
	cmd.ExtraFiles = append(cmd.ExtraFiles, cfg.extraFiles...)
	var childSide []*os.File
	var env []string
	if hasChannel {
		childSide = append(childSide, toR, fromW)
		env = []string{
			protocol.EnvProtocol + "=" + strconv.Itoa(protocol.Version),
			protocol.EnvMaxFrameSize + "=" + strconv.Itoa(conn.maxFrame),
			protocol.EnvMaxValues + "=" + strconv.Itoa(conn.maxValues),
		}
	}
	s := &spawned{cmd: cmd, fromCh: fromR, toCh: toW}
	if cfg.console == nil {
		errR, errW, err := pipe()
		if err != nil {
			return fail(pipeError(err))
		}
		cmd.Stderr, s.stderr = errW, errR
		childSide = append(childSide, errW)
	}
	switch {
	case cfg.console != nil:
		master, tty, err := openConsole(cfg.console)
		if err != nil {
			return fail(fmt.Errorf("cannot open a pseudo-terminal: %w", withDescriptorHint(err)))
		}
		files = append(files, master, tty)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		if hasChannel {
			env = append(env, passChannel(cmd, toR, fromW))
		}
		// The host keeps the child's end open until the child is reaped: while no process
		// holds it, reading the master fails (EIO), and a child that closed descriptors 0 to
		// 2 and opened /dev/tty again later would find nobody reading its output.
		s.console, s.tty = master, tty
	case cfg.channel == ChannelFDs, cfg.channel == ChannelNone:
		outR, outW, err := pipe()
		if err != nil {
			return fail(pipeError(err))
		}
		devnull, err := os.Open(os.DevNull)
		if err != nil {
			return fail(withDescriptorHint(err))
		}
		files = append(files, devnull)
		childSide = append(childSide, outW, devnull)
		cmd.Stdin, cmd.Stdout = devnull, outW
		if hasChannel {
			env = append(env, passChannel(cmd, toR, fromW))
		}
		s.stdout = outR
	default:
		cmd.Stdin, cmd.Stdout = toR, fromW
	}
	cmd.Env = childEnv(cfg, env)
	cmd.SysProcAttr = sysProcAttr(cfg.sysAttr)
	if cfg.console != nil {
		consoleProcAttr(cmd.SysProcAttr)
	}
	if cfg.listenPID || ulimitScript(cfg.rlimits) != "" {
		refuseWhatExecWouldRefuse(cmd) // before /bin/sh runs it (shellexec_linux.go)
	}
	if cfg.listenPID {
		wrapListenPID(cmd)
	}
	wrapRlimits(cmd, cfg.rlimits)
	err = startCmd(ctx, cmd)
	for _, f := range childSide {
		f.Close()
	}
	if err != nil {
		if hint := argSizeHint(cmd, err); hint != "" {
			return fail(fmt.Errorf("%w (%s)", err, hint))
		}
		if hint := forkHint(err); hint != "" {
			return fail(fmt.Errorf("%w (%s)", err, hint))
		}
		return fail(explainStart(cfg.dir, cmd.Path, err))
	}
	return s, nil
}

// forkHint explains fork's EAGAIN ("resource temporarily unavailable"), which names no
// limit, or returns "".
func forkHint(err error) string {
	if !errors.Is(err, syscall.EAGAIN) {
		return ""
	}
	return "the system would not create another process: this user's process limit (ulimit -u, RLIMIT_NPROC), a container's pids limit (the cgroup's pids.max) or the system's (kernel.pid_max, kernel.threads-max) may be reached"
}

// maxArgString is the longest argument or environment string Linux's execve takes, its
// NUL included (MAX_ARG_STRLEN, 32 pages).
const maxArgString = 32 * 4096

// argSizeHint explains execve's E2BIG ("argument list too long"), which names neither the
// environment nor a size: the string above maxArgString (a variable of WithEnv holding a
// configuration, say), or the total. It returns "" for other errors.
func argSizeHint(cmd *exec.Cmd, err error) string {
	if !errors.Is(err, syscall.E2BIG) {
		return ""
	}
	total, longest, what := 0, 0, ""
	for i, list := range [][]string{cmd.Args, cmd.Env} {
		for j, v := range list {
			total += len(v) + 1 + 8 // the string, its NUL and its pointer
			if len(v) >= longest {
				longest = len(v)
				if i == 0 {
					what = "argument " + strconv.Itoa(j)
				} else {
					name, _, _ := strings.Cut(v, "=")
					what = "the environment variable " + name
				}
			}
		}
	}
	if longest+1 > maxArgString {
		return fmt.Sprintf("%s is %d bytes, above the %d bytes the system takes for one argument or environment string", what, longest, maxArgString-1)
	}
	return fmt.Sprintf("the child's arguments and environment come to about %d bytes, above what the system takes (about a quarter of the stack limit, ulimit -s); the longest is %s, %d bytes", total, what, longest)
}

// pipeError is the error of a pipe that could not be created, with the reason (usually
// EMFILE: the host's descriptor limit) kept for errors.Is and explained.
func pipeError(err error) error {
	return fmt.Errorf("cannot create pipes: %w", withDescriptorHint(err))
}

// withDescriptorHint adds descriptorHint's explanation to err, if it has one.
func withDescriptorHint(err error) error {
	if hint := descriptorHint(err); hint != "" {
		return fmt.Errorf("%w (%s)", err, hint)
	}
	return err
}

// descriptorHint explains EMFILE and ENFILE, which name no limit, or returns "".
func descriptorHint(err error) string {
	switch {
	case errors.Is(err, syscall.EMFILE):
		return "this process has as many descriptors open as its limit allows: raise ulimit -n (RLIMIT_NOFILE), or run fewer children"
	case errors.Is(err, syscall.ENFILE):
		return "the system's table of open files is full (fs.file-max)"
	}
	return ""
}

// explainStart names what made a start fail when os/exec's error blames the wrong thing:
// the kernel's chdir between fork and exec fails with the same ENOENT or EACCES as a missing
// or forbidden executable, and os/exec reports it against the executable's path; and a
// directory given as the command fails with EACCES, "permission denied".
func explainStart(dir, path string, err error) error {
	if hint := lostWorkingDir(dir, path, err); hint != "" {
		return fmt.Errorf("%w (%s)", err, hint)
	}
	if dir != "" {
		if fi, serr := os.Stat(dir); serr != nil {
			return fmt.Errorf("the working directory (WithDir) %w", serr)
		} else if !fi.IsDir() {
			return fmt.Errorf("the working directory (WithDir) %q is not a directory", dir)
		}
	}
	path = inDir(path, dir)
	if errors.Is(err, syscall.EACCES) {
		if fi, serr := os.Stat(path); serr == nil && fi.IsDir() {
			return fmt.Errorf("%w (%s is a directory, not a program)", err, path)
		}
	}
	if hint := scriptHint(path, err); hint != "" {
		return fmt.Errorf("%w (%s)", err, hint)
	}
	return withDescriptorHint(err)
}

// lostWorkingDir explains a start that failed with ENOENT because a relative path (the
// command, or WithDir) was looked up from this process's working directory after that
// directory was deleted: a deploy that replaced the directory a long-running host was
// started in, where the file is still there for everyone else. It returns "" otherwise.
func lostWorkingDir(dir, path string, err error) string {
	relative := dir == "" && !filepath.IsAbs(path) || dir != "" && !filepath.IsAbs(dir)
	if !relative || !errors.Is(err, syscall.ENOENT) {
		return ""
	}
	if _, werr := os.Getwd(); werr == nil {
		return ""
	}
	rel := path
	if dir != "" {
		rel = dir
	}
	return fmt.Sprintf("this process's working directory no longer exists (it was deleted), and %s is relative to it: give an absolute path, or restart the host from a directory that exists", rel)
}

// interpreters are the usual interpreters of the scripts the clients are for, by suffix.
var interpreters = map[string]string{".py": "python3", ".php": "php", ".js": "node", ".mjs": "node", ".cjs": "node"}

// shebang returns the interpreter that a "#!" line at the start of head names, as Linux reads
// it (fs/binfmt_script.c): up to the line's end, without the spaces and tabs around it, and
// up to the first space or tab. A carriage return is part of the name, so a script saved
// with CRLF line endings names "/usr/bin/python3\r", which does not exist. ok is false when
// head has no "#!" line.
func shebang(head []byte) (interp string, ok bool) {
	line, found := bytes.CutPrefix(head, []byte("#!"))
	if !found {
		return "", false
	}
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	line = bytes.Trim(line, " \t")
	if i := bytes.IndexAny(line, " \t\x00"); i >= 0 {
		line = line[:i]
	}
	return string(line), true
}

// missingInterpreter explains execve's ENOENT for path, a file that exists: the interpreter
// its "#!" line names does not. It returns "" when that is not the case.
func missingInterpreter(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	head := make([]byte, 256)
	n, _ := io.ReadFull(f, head)
	interp, ok := shebang(head[:n])
	if !ok {
		return ""
	}
	if _, err := os.Stat(interp); err == nil {
		return ""
	}
	if trimmed := strings.TrimRight(interp, "\r"); trimmed != interp {
		return fmt.Sprintf("the #! line of %s names %q: the script has Windows (CRLF) line endings; convert it to LF (dos2unix %s), or start it with its interpreter",
			path, interp, filepath.Base(path))
	}
	return fmt.Sprintf("the #! line of %s names %s, which does not exist", path, interp)
}

// scriptHint explains a start that failed because the command is a script given without its
// interpreter (["worker.py"] instead of ["python3", "worker.py"]): not found in PATH, not
// executable, or without a #! line; or a script whose #! line names an interpreter that does
// not exist. It returns "" for other failures.
func scriptHint(path string, err error) string {
	if errors.Is(err, syscall.ENOENT) && !errors.Is(err, exec.ErrNotFound) {
		return missingInterpreter(path)
	}
	if !errors.Is(err, exec.ErrNotFound) && !errors.Is(err, syscall.EACCES) && !errors.Is(err, syscall.ENOEXEC) {
		return ""
	}
	fi, serr := os.Stat(path)
	file := serr == nil && fi.Mode().IsRegular()
	interp := interpreters[strings.ToLower(filepath.Ext(path))]
	switch {
	case interp != "" && (file || errors.Is(err, exec.ErrNotFound)):
		return fmt.Sprintf("%s is a script: start it with its interpreter, such as %s %s", filepath.Base(path), interp, filepath.Base(path))
	case file:
		return fmt.Sprintf("%s is not a program the kernel can run: start it with its interpreter, or give it a #! line and make it executable", path)
	}
	return ""
}

// inDir resolves a relative path as the child will, after changing to dir.
func inDir(path, dir string) string {
	if dir == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// passChannel passes the child's ends of the channel after the descriptors already passed
// (SPEC 1.2) and returns the variable that names them.
func passChannel(cmd *exec.Cmd, r, w *os.File) string {
	first := 3 + len(cmd.ExtraFiles)
	cmd.ExtraFiles = append(cmd.ExtraFiles, r, w)
	return protocol.EnvChannelFDs + "=" + strconv.Itoa(first) + "," + strconv.Itoa(first+1)
}

// childEnv builds the child's environment: the host's (or, with WithCleanEnv, only the
// allowed variables), the protocol's variables, the pool's, then WithEnv's. Variables the
// host got from a polyfork host of its own or from systemd (POLYFORK_CHANNEL_FDS and the
// socket-activation variables LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES) are not passed on,
// so a child never mistakes them for its own. Other LISTEN_ names (an application's
// LISTEN_PORT) are the application's and are passed on.
func childEnv(cfg procConfig, protocolVars []string) []string {
	var env []string
	inherit := func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == protocol.EnvChannelFDs, name == "LISTEN_FDS", name == "LISTEN_PID", name == "LISTEN_FDNAMES":
			return false
		case !cfg.cleanEnv:
			return true
		}
		for _, a := range cfg.allowEnv {
			if a == name {
				return true
			}
		}
		return false
	}
	for _, kv := range os.Environ() {
		if inherit(kv) {
			env = append(env, kv)
		}
	}
	env = append(env, protocolVars...)
	env = append(env, cfg.extraEnv...)
	return append(env, cfg.env...)
}

// wrapListenPID runs cmd through /bin/sh so that LISTEN_PID is the child's own pid, as the
// socket-activation convention requires and as only the child itself can know: the shell
// exports its pid and execs the command, which keeps that pid, its process group, its
// parent-death signal and its descriptors. Go cannot run code between fork and exec, and
// the alternatives are worse: re-executing the host's own binary needs a hook in the
// user's main, and the pid cannot be known before the fork. The costs: one exec of the
// shell per start (about a millisecond), the program sees its resolved path as argv[0]
// (dash has no exec -a), and a system without /bin/sh cannot pass sockets. cmd.Path must
// already be resolved; a lookup error stays in cmd.Err.
func wrapListenPID(cmd *exec.Cmd) {
	if cmd.Err != nil {
		return
	}
	args := append([]string{"sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`, cmd.Path}, cmd.Args[1:]...)
	cmd.Path, cmd.Args = "/bin/sh", args
}
