//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// debugWorker returns the argv of testdata/debug_worker.py, a Python worker with a
// breakpoint, and lets children find the Python client.
func debugWorker(t *testing.T) []string {
	t.Helper()
	src, err := filepath.Abs(filepath.Join("..", "..", "clients", "python", "src"))
	require.NoError(t, err)
	t.Setenv("PYTHONPATH", src)
	return []string{testutil.Python(), filepath.Join("testdata", "debug_worker.py")}
}

// screen is what the user's terminal shows.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *screen) waitFor(t *testing.T, text string) {
	t.Helper()
	testutil.Eventually(t, "the terminal shows "+text, func() bool { return strings.Contains(s.String(), text) })
}

// fakeTerminal opens a pseudo-terminal that plays the user's: polyfork gets tty as its
// stdin; the test types into keys and reads what the terminal shows.
func fakeTerminal(t *testing.T) (keys io.Writer, tty *os.File, shown *screen) {
	t.Helper()
	master, tty, err := pty.Open()
	require.NoError(t, err)
	require.NoError(t, pty.Setsize(tty, &pty.Winsize{Cols: 100, Rows: 30}))
	shown = &screen{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			shown.mu.Lock()
			shown.buf.Write(buf[:n])
			shown.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		tty.Close() // the reader gets EIO
		<-done
		master.Close()
		if t.Failed() {
			t.Logf("the terminal showed:\n%s", shown.String())
		}
	})
	return master, tty, shown
}

func termios(t *testing.T, tty *os.File) unix.Termios {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	require.NoError(t, err)
	return *tio
}

// callOnTerminal runs polyfork call with tty as its stdin, in the background.
func callOnTerminal(ctx context.Context, tty *os.File, args ...string) <-chan result {
	done := make(chan result, 1)
	go func() {
		var out, errb bytes.Buffer
		code := run(ctx, append([]string{"call"}, args...), tty, &out, &errb)
		done <- result{code, out.String(), errb.String()}
	}()
	return done
}

func isRaw(t *testing.T, tty *os.File) bool { return termios(t, tty).Lflag&unix.ECHO == 0 }

func TestCallConsoleIsATerminal(t *testing.T) {
	worker := debugWorker(t)
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"-console"}, "true\n"},
		{nil, "false\n"},
		{[]string{"-channel", "fd"}, "false\n"},
	} {
		r := polyfork(t, "", callArgs("stdout_isatty", "[]", c.flags, worker)...)
		assert.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, c.want, r.stdout, "flags %v", c.flags)
	}
}

// TestCallConsolePdb drives pdb through the console: the handler stops at breakpoint(),
// the user prints a variable and continues, and the call's result is printed.
func TestCallConsolePdb(t *testing.T) {
	worker := debugWorker(t)
	keys, tty, shown := fakeTerminal(t)
	before := termios(t, tty)
	done := callOnTerminal(context.Background(), tty, append([]string{"-console", "debug", "[4321]", "--"}, worker...)...)

	shown.waitFor(t, "(Pdb) ")
	assert.True(t, isRaw(t, tty), "the user's terminal is raw while attached")
	_, err := keys.Write([]byte("p value\r"))
	require.NoError(t, err)
	shown.waitFor(t, "4321")
	_, err = keys.Write([]byte("c\r"))
	require.NoError(t, err)
	r := <-done
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "8642\n", r.stdout)
	assert.Equal(t, before, termios(t, tty), "terminal modes restored")
}

// TestCallConsoleRestoresTheTerminal ends attached calls every way they can end and
// checks that the user's terminal gets its modes back each time.
func TestCallConsoleRestoresTheTerminal(t *testing.T) {
	worker := debugWorker(t)
	cases := []struct {
		name   string
		method string
		params string
		end    func(keys io.Writer, cancel context.CancelFunc)
		code   []int
		stderr string
	}{
		{"normal end", "stdout_isatty", "[]", nil, []int{exitOK}, ""},
		{"child crash", "crash", "[7]", nil, []int{exitFailure}, "exited with status 7"},
		{"Ctrl-C typed: SIGINT for the child", "sleep", "[60]",
			func(keys io.Writer, _ context.CancelFunc) { keys.Write([]byte{3}) }, []int{exitRaised, exitFailure}, ""},
		{"SIGINT or SIGTERM for polyfork", "sleep", "[60]",
			func(_ io.Writer, cancel context.CancelFunc) { cancel() }, []int{exitFailure}, "context canceled"},
		{"detach key", "sleep", "[60]",
			func(keys io.Writer, _ context.CancelFunc) { keys.Write([]byte{detachKey}) }, []int{exitFailure}, "detached with Ctrl-]"},
		{"the child cannot start", "x", "[]", nil, []int{exitFailure}, "cannot start"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keys, tty, shown := fakeTerminal(t)
			before := termios(t, tty)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			argv := worker
			if c.name == "the child cannot start" {
				argv = []string{"/no/such/interpreter"}
			}
			done := callOnTerminal(ctx, tty, append([]string{"-console", c.method, c.params, "--"}, argv...)...)
			if c.end != nil {
				shown.waitFor(t, "sleeping")
				c.end(keys, cancel)
			}
			r := <-done
			assert.Contains(t, c.code, r.code, r.stderr)
			assert.Contains(t, r.stderr, c.stderr)
			assert.Equal(t, before, termios(t, tty), "terminal modes restored")
		})
	}
}

// signalOnTerminal runs the real binary with tty as its stdin, waits until the terminal
// shows ready and is raw, sends sig and returns the exit status and stderr.
func signalOnTerminal(t *testing.T, bin string, tty *os.File, shown *screen, ready string, sig syscall.Signal, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, io.Discard, &stderr
	require.NoError(t, cmd.Start())
	shown.waitFor(t, ready)
	testutil.Eventually(t, "the terminal raw", func() bool { return isRaw(t, tty) })
	require.NoError(t, cmd.Process.Signal(sig))
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), stderr.String()
	}
	require.NoError(t, err, stderr.String())
	return 0, stderr.String()
}

// TestCallConsoleSignalRestoresTheTerminal signals the real binary while its terminal is
// raw: SIGINT and SIGTERM, and SIGHUP and SIGQUIT, which once killed it with the terminal
// left raw.
func TestCallConsoleSignalRestoresTheTerminal(t *testing.T) {
	worker := debugWorker(t)
	bin := buildPolyfork(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT} {
		t.Run(sig.String(), func(t *testing.T) {
			_, tty, shown := fakeTerminal(t)
			before := termios(t, tty)
			code, stderr := signalOnTerminal(t, bin, tty, shown, "sleeping", sig,
				append([]string{"call", "-console", "sleep", "[60]", "--"}, worker...)...)
			assert.Equal(t, exitFailure, code, stderr)
			assert.Equal(t, before, termios(t, tty), "terminal modes restored")
		})
	}
}

// TestAttachSignalRestoresTheTerminal does the same to polyfork attach.
func TestAttachSignalRestoresTheTerminal(t *testing.T) {
	_, dir := serveConsoles(t)
	bin := buildPolyfork(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT} {
		t.Run(sig.String(), func(t *testing.T) {
			keys, tty, shown := fakeTerminal(t)
			before := termios(t, tty)
			go func() { // something to show once attached
				time.Sleep(500 * time.Millisecond)
				keys.Write([]byte("attached?\r"))
			}()
			code, stderr := signalOnTerminal(t, bin, tty, shown, "attached?", sig, "attach", dir, "0")
			assert.Equal(t, exitOK, code, stderr)
			assert.Equal(t, before, termios(t, tty), "terminal modes restored")
		})
	}
}

func TestCallConsoleWithoutATerminal(t *testing.T) {
	worker := debugWorker(t)
	r := polyfork(t, "", callArgs("crash", "[5]", []string{"-console"}, worker)...)
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "] crashing on purpose\n", "the console's lines are relayed, tagged")
	assert.Contains(t, r.stderr, "exited with status 5")
}

func TestChildFlags(t *testing.T) {
	worker := debugWorker(t)
	for _, c := range []struct {
		flags  []string
		stderr string
	}{
		{[]string{"-channel", "pipe"}, `-channel "pipe": want stdio or fd`},
		{[]string{"-console", "-channel", "stdio"}, "cannot go with -channel stdio"},
		{[]string{"-console-size", "80x24"}, "-console-size needs -console"},
		{[]string{"-console", "-console-size", "80"}, "want COLSxROWS"},
		{[]string{"-env", "NOVALUE"}, `-env "NOVALUE": want KEY=VALUE`},
		{[]string{"-rlimit-nofile", "-1"}, "must not be negative"},
		{[]string{"-rlimit-as", "lots"}, "is not a size"},
	} {
		r := polyfork(t, "", callArgs("stdout_isatty", "[]", c.flags, worker)...)
		assert.Equal(t, exitUsage, r.code, "%v: %s", c.flags, r.stderr)
		assert.Contains(t, r.stderr, c.stderr, c.flags)
	}
}

// serveConsoles starts polyfork serve -console with one debug worker and returns its base
// URL and console directory.
func serveConsoles(t *testing.T) (string, string) {
	worker := debugWorker(t)
	dir := filepath.Join(t.TempDir(), "consoles")
	base, _, _ := serveFor(t, serveArgs([]string{"-workers", "1", "-timeout", "0", "-console", dir}, worker)...)
	return base, dir
}

// TestAttachToAPoolWorker debugs a live pool worker: a call stops at breakpoint(),
// polyfork attach reaches the worker's console, and pdb answers there.
func TestAttachToAPoolWorker(t *testing.T) {
	base, dir := serveConsoles(t)
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "the directory is private")
	sock := filepath.Join(dir, "debug_worker.py#0")
	fi, err = os.Stat(sock)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	answer := make(chan string, 1)
	go func() {
		_, _, body := post(t, base+"/call/debug", "[4321]")
		answer <- body
	}()

	keys, typist := io.Pipe()
	out := &screen{}
	attached := make(chan result, 1)
	go func() {
		var errb bytes.Buffer
		code := run(context.Background(), []string{"attach", dir, "0"}, keys, &lockedWriter{s: out}, &errb)
		attached <- result{code, "", errb.String()}
	}()
	out.waitFor(t, "(Pdb) ") // replayed if pdb printed it before we attached
	_, err = typist.Write([]byte("p value\n"))
	require.NoError(t, err)
	out.waitFor(t, "4321")
	_, err = typist.Write([]byte("c\n"))
	require.NoError(t, err)
	assert.Equal(t, "8642\n", <-answer)
	typist.Close()
	r := <-attached
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "detached")
}

// lockedWriter lets a test read a screen while attach writes to it.
type lockedWriter struct{ s *screen }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.buf.Write(p)
}

func TestAttachErrors(t *testing.T) {
	_, dir := serveConsoles(t)
	for _, c := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{nil, exitUsage, "want DIR [WORKER]"},
		{[]string{dir, "7"}, exitUsage, `no worker "7"`},
		{[]string{filepath.Join(dir, "nothing")}, exitUsage, "no such file"},
		{[]string{t.TempDir()}, exitUsage, "no worker console"},
	} {
		r := polyfork(t, "", append([]string{"attach"}, c.args...)...)
		assert.Equal(t, c.code, r.code, r.stderr)
		assert.Contains(t, r.stderr, c.stderr)
	}

	// One terminal at a time: the test holds the worker's console, attach is refused.
	conn, err := net.Dial("unix", filepath.Join(dir, "debug_worker.py#0"))
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	header, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(header, consoleHeader), header)
	r := polyfork(t, "", "attach", dir)
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "another terminal is attached to debug_worker.py#0")
}

// TestConsoleSocketsAreTheUsersOnly tries the console socket as another user: the
// directory's permissions stop it, and when they are opened up the peer-credential check
// still refuses it.
func TestConsoleSocketsAreTheUsersOnly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as another user")
	}
	python := "/usr/bin/python3" // one that another user can run
	if _, err := os.Stat(python); err != nil {
		t.Skip("needs /usr/bin/python3 to act as another user")
	}
	_, dir := serveConsoles(t)
	sock := filepath.Join(dir, "debug_worker.py#0")
	const nobody = 65534
	connectAs := func() string {
		cmd := exec.Command(python, "-c", `
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect:", e.strerror)
    sys.exit(0)
print(s.recv(200).decode())
`, sock)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		return string(out)
	}
	assert.Contains(t, connectAs(), "connect: Permission denied", "the directory is 0700")

	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		require.NoError(t, os.Chmod(d, 0o755)) // the test's own directories too
	}
	require.NoError(t, os.Chmod(sock, 0o666))
	assert.Contains(t, connectAs(), "refused: uid 65534 is not the user who started polyfork serve")

	// Its owner still gets in.
	conn, err := net.Dial("unix", sock)
	require.NoError(t, err)
	defer conn.Close()
	b := make([]byte, 100)
	n, _ := conn.Read(b)
	assert.True(t, strings.HasPrefix(string(b[:n]), consoleHeader+"debug_worker.py#0 "), string(b[:n]))
}

func TestServeConsoleDirMustBePrivate(t *testing.T) {
	worker := debugWorker(t)
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755))
	r := polyfork(t, "", append([]string{"serve", "-addr", "127.0.0.1:0", "-console", dir, "--"}, worker...)...)
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "lets other users in")
}

// Two serves in one directory would take each other's sockets, and the first to stop would
// remove the sockets of the other, which then could not be attached to.
func TestConsoleDirServesOneServe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "consoles")
	first, err := openConsoleDir(dir, t.Logf)
	require.NoError(t, err)
	_, err = openConsoleDir(dir, t.Logf)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "another polyfork serve uses this directory")
	first.Close()
	require.NoError(t, os.Mkdir(dir, 0o700))
	again, err := openConsoleDir(dir, t.Logf)
	require.NoError(t, err, "the lock goes with the serve that held it")
	again.Close()
}

func TestConsoleWireFormat(t *testing.T) {
	assert.Equal(t, []byte{'k', 0, 2, 'h', 'i'}, appendMessage(nil, msgKeys, []byte("hi")))
	w := windowMessage(120, 40)
	assert.Equal(t, byte('w'), w[0])
	assert.Equal(t, uint16(4), binary.BigEndian.Uint16(w[1:3]))
	assert.Equal(t, []uint16{120, 40}, []uint16{binary.BigEndian.Uint16(w[3:5]), binary.BigEndian.Uint16(w[5:7])})
	name, pid, err := parseHeader("polyfork-console 1 w.py#0 42\n")
	require.NoError(t, err)
	assert.Equal(t, "w.py#0", name)
	assert.Equal(t, 42, pid)
	_, _, err = parseHeader("polyfork-console refused: go away\n")
	assert.EqualError(t, err, "go away")
	_, _, err = parseHeader("HTTP/1.1 400 Bad Request\n")
	assert.ErrorContains(t, err, "not a polyfork console")
}

// TestCallChannelFD runs a child that writes to stdout before its client is loaded: it
// breaks the channel over stdio, and is only logging with -channel fd.
func TestCallChannelFD(t *testing.T) {
	debugWorker(t) // PYTHONPATH
	early := []string{testutil.Python(), filepath.Join("..", "..", "conformance", "testdata", "early_stdout.py")}
	r := polyfork(t, "", callArgs("noisy", "[]", []string{"-channel", "fd"}, early)...)
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "\"ok\"\n", r.stdout)
	for _, line := range []string{"early bytes before the client", "from os.write", "from a shell", "from print"} {
		assert.Regexp(t, `early_stdout\.py\[\d+\] `+line+"\n", r.stderr)
	}
	r = polyfork(t, "", callArgs("noisy", "[]", nil, early)...)
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "something wrote to stdout")
}

// TestCallConsolePrompts answers readline prompts of PHP and Node handlers on the
// console.
func TestCallConsolePrompts(t *testing.T) {
	for _, argv := range [][]string{
		{testutil.Interpreter("POLYFORK_PHP", "php"), filepath.Join("testdata", "prompt_worker.php")},
		{testutil.Interpreter("POLYFORK_NODE", "node"), filepath.Join("testdata", "debug_worker.js")},
	} {
		t.Run(filepath.Base(argv[1]), func(t *testing.T) {
			keys, tty, shown := fakeTerminal(t)
			before := termios(t, tty)
			done := callOnTerminal(context.Background(), tty, append([]string{"-console", "ask", `["name? "]`, "--"}, argv...)...)
			shown.waitFor(t, "name? ")
			_, err := keys.Write([]byte("Ada\r"))
			require.NoError(t, err)
			r := <-done
			assert.Equal(t, exitOK, r.code, r.stderr)
			assert.Equal(t, "\"you said: Ada\"\n", r.stdout)
			// Echoed by the terminal or by readline: written before the call returned, read
			// from the terminal by fakeTerminal's goroutine, maybe not yet.
			shown.waitFor(t, "Ada")
			assert.Equal(t, before, termios(t, tty))
		})
	}
}

// TestCallConsoleNodeInspect stops a Node handler at `debugger` under node inspect, in
// the console. node inspect runs the script as a child of its own that gets descriptors
// 0 to 2 only, so the worker starts with --inspect-brk beside the debugger instead, and
// keeps its channel.
func TestCallConsoleNodeInspect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	node := testutil.Interpreter("POLYFORK_NODE", "node")
	script := "$0 --inspect-brk=" + addr + " testdata/debug_worker.js & exec $0 inspect " + addr
	keys, tty, shown := fakeTerminal(t)
	done := callOnTerminal(context.Background(), tty, "-console", "debug", "[4321]", "--", "sh", "-c", script, node)
	shown.waitFor(t, "Break on start")
	shown.waitFor(t, "debug> ")
	_, err = keys.Write([]byte("c\r"))
	require.NoError(t, err)
	shown.waitFor(t, "break in")
	_, err = keys.Write([]byte("exec value\r"))
	require.NoError(t, err)
	shown.waitFor(t, "4321")
	_, err = keys.Write([]byte("c\r"))
	require.NoError(t, err)
	r := <-done
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "8642\n", r.stdout)
}

func TestServeNATSRefusesChildFlags(t *testing.T) {
	for _, flags := range [][]string{{"-console", t.TempDir()}, {"-channel", "fd"}, {"-rlimit-nofile", "64"}} {
		args := append([]string{"serve", "-nats", "nats://127.0.0.1:1", "-service", "s"}, flags...)
		r := polyfork(t, "", args...)
		assert.Equal(t, exitUsage, r.code, r.stderr)
		assert.Contains(t, r.stderr, flags[0]+" concerns the workers' processes", flags)
	}
}

// A client that sends more than a worker's terminal holds (the worker never reads it) and
// goes away without ending its input, as `timeout 3 polyfork attach DIR 0 < big.txt` does:
// the worker's console is free for the next terminal at once (serve once stopped reading
// the connection on the full terminal and kept the console for as long as the worker did
// not read).
func TestAttachFloodThenGoneFreesTheConsole(t *testing.T) {
	_, dir := serveConsoles(t)
	never, unblock := io.Pipe() // input that never ends
	t.Cleanup(func() { unblock.Close() })
	big := strings.Repeat(strings.Repeat("z", 99)+"\n", 14000)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var errb bytes.Buffer
	code := run(ctx, []string{"attach", dir, "0"}, io.MultiReader(strings.NewReader(big), never), io.Discard, &errb)
	assert.Equal(t, exitOK, code, errb.String())
	testutil.Eventually(t, "attach to succeed again", func() bool {
		r := polyfork(t, "", "attach", dir, "0")
		return r.code == exitOK && !strings.Contains(r.stderr, "another terminal")
	})
}

// TestCallConsoleKeysAfterAFloodedTerminal pastes 85 KB into a call's console while the
// handler sleeps, then types Ctrl-] or Ctrl-C: each still ends the call (polyfork once
// stopped reading the user's terminal once the child's was full).
func TestCallConsoleKeysAfterAFloodedTerminal(t *testing.T) {
	worker := debugWorker(t)
	// More than the terminal and the 64 KiB queue hold: some is dropped, and said so.
	paste := []byte(strings.Repeat(strings.Repeat("p", 79)+"\n", 2000))
	for _, c := range []struct {
		name   string
		key    byte
		code   []int
		stderr string
	}{
		{"detach key", detachKey, []int{exitFailure}, "detached with Ctrl-]"},
		{"Ctrl-C", 3, []int{exitRaised, exitFailure}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			keys, tty, shown := fakeTerminal(t)
			before := termios(t, tty)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := callOnTerminal(ctx, tty, append([]string{"-console", "sleep", "[60]", "--"}, worker...)...)
			shown.waitFor(t, "sleeping")
			go func() {
				keys.Write(paste)
				keys.Write([]byte{c.key})
			}()
			select {
			case r := <-done:
				assert.Contains(t, c.code, r.code, r.stderr)
				assert.Contains(t, r.stderr, c.stderr)
				assert.Equal(t, 1, strings.Count(r.stderr, "typed input is dropped"), "said once, after the call:\n%s", r.stderr)
			case <-time.After(15 * time.Second):
				cancel()
				<-done
				t.Fatal("the key typed after the paste did nothing")
			}
			assert.Equal(t, before, termios(t, tty), "terminal modes restored")
		})
	}
}

// A -console DIR whose worker sockets cannot fit a Unix socket's path is refused before
// anything starts (it was accepted: every worker start logged a warning, and attach found
// no console).
func TestServeConsoleDirTooLongForSockets(t *testing.T) {
	worker := debugWorker(t)
	base := t.TempDir()
	dir := filepath.Join(base, strings.Repeat("d", max(1, socketPathMax-len(base)-len("/#0"))))
	require.LessOrEqual(t, len(dir), socketPathMax, "DIR itself would fit")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errb bytes.Buffer
	code := run(ctx, append([]string{"serve", "-addr", "127.0.0.1:0", "-workers", "2", "-console", dir, "--"}, worker...), strings.NewReader(""), io.Discard, &errb)
	assert.Equal(t, exitUsage, code, errb.String())
	assert.Contains(t, errb.String(), "debug_worker.py#1")
	assert.Contains(t, errb.String(), fmt.Sprintf("holds at most %d", socketPathMax))
	_, err := os.Stat(dir)
	assert.ErrorIs(t, err, os.ErrNotExist, "refused before the directory is made")
}

// A console socket whose path is longer than a socket address holds: serve bound it by a
// short relative path (-console c, run from a deep working directory, such as a CI
// workspace), and attach is given the whole path. attach reaches it through a shorter name
// of its directory; it failed with connect's "invalid argument" (docs/faults.md).
func TestAttachThroughAPathTooLongForASocket(t *testing.T) {
	worker := debugWorker(t)
	script, err := filepath.Abs(worker[1])
	require.NoError(t, err)
	deep := filepath.Join(t.TempDir(), strings.Repeat("d", socketPathMax))
	require.NoError(t, os.Mkdir(deep, 0o700))
	cmd := exec.Command(buildPolyfork(t), "serve", "-addr", "127.0.0.1:0", "-workers", "1", "-timeout", "0", "-console", "c", "--", worker[0], script)
	cmd.Dir = deep
	s := startServing(t, cmd)
	dir := filepath.Join(deep, "c")
	sock := filepath.Join(dir, "debug_worker.py#0")
	require.Greater(t, len(sock), socketPathMax)
	testutil.Eventually(t, "the worker's console socket", func() bool {
		fi, err := os.Stat(sock)
		return err == nil && fi.Mode()&os.ModeSocket != 0
	})

	for _, args := range [][]string{{dir, "0"}, {sock}} {
		r := polyfork(t, "", append([]string{"attach"}, args...)...)
		assert.Equal(t, exitOK, r.code, "%v: %s\nserve: %s", args, r.stderr, s.logs)
		assert.Contains(t, r.stderr, "detached", args)
	}

	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, s.wait(t, 30*time.Second), "serve drains to exit status 0:\n%s", s.logs)
}

// TestConsoleSurvivesAFailedAccept: serve runs out of descriptors (ulimit -n) just when a
// terminal connects to a worker's console. The accept that failed (EMFILE) is tried again
// and the terminal gets its console once a descriptor is free. The socket's accept loop
// ended at the first error: that worker's console was unreachable until it restarted, each
// attach waiting 10 s for a header (docs/faults.md).
func TestConsoleSurvivesAFailedAccept(t *testing.T) {
	worker := debugWorker(t)
	dir := filepath.Join(t.TempDir(), "consoles")
	s := startServeBinary(t, serveArgs([]string{"-workers", "1", "-timeout", "0", "-console", dir}, worker)...)
	sock := filepath.Join(dir, "debug_worker.py#0")
	testutil.Eventually(t, "the worker's console socket", func() bool {
		_, err := os.Stat(sock)
		return err == nil
	})

	// The limit becomes serve's lowest free descriptor: its next one cannot be opened.
	pid := s.cmd.Process.Pid
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	require.NoError(t, err)
	open := map[string]bool{}
	for _, e := range entries {
		open[e.Name()] = true
	}
	lowest := 0
	for open[fmt.Sprint(lowest)] {
		lowest++
	}
	var old unix.Rlimit
	require.NoError(t, unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &old))
	require.NoError(t, unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: uint64(lowest), Max: old.Max}, nil))
	restored := false
	restore := func() {
		if !restored {
			restored = true
			require.NoError(t, unix.Prlimit(pid, unix.RLIMIT_NOFILE, &old, nil))
		}
	}
	defer restore()

	conn, err := net.Dial("unix", sock)
	require.NoError(t, err, "the kernel queues the connection")
	defer conn.Close()
	testutil.Eventually(t, "serve logs the failed accept", func() bool {
		return strings.Contains(s.logs.String(), "cannot accept a terminal, trying again")
	})
	restore()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)))
	header, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err, "serve:\n%s", s.logs)
	assert.True(t, strings.HasPrefix(header, consoleHeader), header)
	conn.Close()

	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, s.wait(t, 30*time.Second), "serve:\n%s", s.logs)
}

// TestConsoleDirUnderARestrictiveUmask: serve started with a umask that takes the owner's
// execute bit (0177) makes its -console directory 0700 all the same, and its sockets 0600.
// The directory was 0600, which nobody but root can enter: run as any other user, serve
// could bind no worker's socket in the directory it had just made ("bind: permission
// denied", a warning per worker), and no console could be reached (docs/faults.md).
func TestConsoleDirUnderARestrictiveUmask(t *testing.T) {
	worker := debugWorker(t)
	script, err := filepath.Abs(worker[1])
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "consoles")
	s := startServing(t, exec.Command("/bin/sh", "-c", `umask 177; exec "$@"`, "sh", buildPolyfork(t), "serve", "-addr", "127.0.0.1:0", "-workers", "1", "-console", dir, "--", worker[0], script))
	sock := filepath.Join(dir, "debug_worker.py#0")
	testutil.Eventually(t, "the worker's console socket", func() bool {
		_, err := os.Stat(sock)
		return err == nil
	})
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "the directory")
	fi, err = os.Stat(sock)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the socket")
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, s.wait(t, 30*time.Second), "serve drains to exit status 0:\n%s", s.logs)
}

// A -console DIR that is a symbolic link, even to a private directory, is refused on
// purpose, and the message says so (it said "not a directory").
func TestServeConsoleDirSymlink(t *testing.T) {
	worker := debugWorker(t)
	target := filepath.Join(t.TempDir(), "private")
	require.NoError(t, os.Mkdir(target, 0o700))
	link := filepath.Join(t.TempDir(), "consoles")
	require.NoError(t, os.Symlink(target, link))
	r := polyfork(t, "", append([]string{"serve", "-addr", "127.0.0.1:0", "-console", link, "--"}, worker...)...)
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "a symbolic link (to "+target+"), refused on purpose")
	assert.NotContains(t, r.stderr, "not a directory")
}

// oddModesReset is what turns back each mode debug_worker.py's odd_modes turns on.
var oddModesReset = []string{"\x1b[?1049l", "\x1b[?25h", "\x1b[?1000l", "\x1b[?1006l", "\x1b[?2004l", "\x1b[?1l", "\x1b>", "\x1b[0m"}

// assertModesTurnedBack checks that the terminal was told to leave every mode the child
// turned on, after the child's output (waiting for the terminal to show it all).
func assertModesTurnedBack(t *testing.T, shown *screen) {
	t.Helper()
	after := func() string {
		_, a, _ := strings.Cut(shown.String(), "odd modes on")
		return a
	}
	testutil.Eventually(t, "the modes turned back", func() bool {
		for _, seq := range oddModesReset {
			if !strings.Contains(after(), seq) {
				return false
			}
		}
		return true
	})
	a := after()
	assert.Less(t, strings.Index(a, "\x1b[?2004l"), strings.Index(a, "\x1b[?1049l"), "the alternate screen is left last: %q", a)
}

// TestConsoleModesTurnedBack: a child that turns on the alternate screen,
// a hidden cursor, mouse reports, bracketed paste, application keys and a colour (as a
// full-screen debugger does), then crashes, or is detached from, left the user's
// terminal in them: the shell ran on the alternate screen with no cursor, polyfork's own
// error in red, mouse moves and pastes typed into it as escape sequences. The line
// discipline's modes were restored; these belong to the terminal emulator and are
// turned back by sequences written to it (docs/faults.md).
func TestConsoleModesTurnedBack(t *testing.T) {
	worker := debugWorker(t)
	t.Run("call crash", func(t *testing.T) {
		_, tty, shown := fakeTerminal(t)
		r := <-callOnTerminal(context.Background(), tty, append([]string{"-console", "odd_modes", "[3]", "--"}, worker...)...)
		assert.Equal(t, exitFailure, r.code, r.stderr)
		assertModesTurnedBack(t, shown)
	})
	t.Run("call detach", func(t *testing.T) {
		keys, tty, shown := fakeTerminal(t)
		done := callOnTerminal(context.Background(), tty, append([]string{"-console", "odd_modes", "[null]", "--"}, worker...)...)
		shown.waitFor(t, "odd modes on")
		_, err := keys.Write([]byte{detachKey})
		require.NoError(t, err)
		r := <-done
		assert.Equal(t, exitFailure, r.code, r.stderr)
		assertModesTurnedBack(t, shown)
	})
	t.Run("attach", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "consoles")
		base, _, _ := serveFor(t, serveArgs([]string{"-workers", "1", "-timeout", "0", "-drain", "1s", "-console", dir}, worker)...)
		go func() { // the worker stays in its modes; the call ends with serve
			if resp, err := http.Post(base+"/call/odd_modes", "application/json", strings.NewReader("[null]")); err == nil {
				resp.Body.Close()
			}
		}()
		keys, tty, shown := fakeTerminal(t)
		done := make(chan result, 1)
		go func() {
			var out, errb bytes.Buffer
			done <- result{run(context.Background(), []string{"attach", dir, "0"}, tty, &out, &errb), out.String(), errb.String()}
		}()
		shown.waitFor(t, "odd modes on") // shown live, or replayed
		testutil.Eventually(t, "the terminal raw", func() bool { return isRaw(t, tty) })
		_, err := keys.Write([]byte{detachKey})
		require.NoError(t, err)
		r := <-done
		assert.Equal(t, exitOK, r.code, r.stderr)
		assertModesTurnedBack(t, shown)
	})
}

// TestAttachToASocketThatIsNotAConsole points attach at sockets of other programs: one
// that streams bytes without a newline (attach read them all for 10 s, 10 GB of memory
// from a local sender, then said the socket "said nothing"), and one that answers with a
// line of its own. attach reads a header line of at most 4 KiB, and says what it got
// (docs/faults.md).
func TestAttachToASocketThatIsNotAConsole(t *testing.T) {
	serveOnce := func(t *testing.T, send func(net.Conn) error) (string, <-chan error) {
		path := filepath.Join(t.TempDir(), "other.sock")
		ln, err := net.Listen("unix", path)
		require.NoError(t, err)
		sent, quit, done := make(chan error, 1), make(chan struct{}), make(chan struct{})
		t.Cleanup(func() { ln.Close(); close(quit); <-done })
		go func() {
			defer close(done)
			c, err := ln.Accept()
			if err != nil {
				sent <- err
				return
			}
			defer c.Close()
			sent <- send(c)
			<-quit // silent, the connection open, until the test ends
		}()
		return path, sent
	}

	t.Run("a stream without a newline", func(t *testing.T) {
		path, sent := serveOnce(t, func(c net.Conn) error {
			chunk := bytes.Repeat([]byte("A"), 1<<20)
			for i := 0; i < 64; i++ {
				if _, err := c.Write(chunk); err != nil {
					return err
				}
			}
			return nil
		})
		r := polyfork(t, "", "attach", path)
		assert.Equal(t, exitFailure, r.code)
		assert.Contains(t, r.stderr, "not a polyfork console: it sent 4096 bytes with no header line")
		assert.Error(t, <-sent, "attach took the whole 64 MiB stream")
	})
	t.Run("a line of its own", func(t *testing.T) {
		path, _ := serveOnce(t, func(c net.Conn) error {
			_, err := c.Write([]byte("HTTP/1.1 400 Bad Request\r\n"))
			return err
		})
		r := polyfork(t, "", "attach", path)
		assert.Equal(t, exitFailure, r.code)
		assert.Contains(t, r.stderr, `not a polyfork console: it said "HTTP/1.1 400 Bad Request`)
	})
}
