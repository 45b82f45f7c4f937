package bridge

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// refuseWhatExecWouldRefuse sets cmd.Err when cmd.Path is a file that Linux's execve(2) would
// refuse, before cmd is wrapped in /bin/sh (wrapListenPID, wrapRlimits). The shell's exec
// does not fail where execve does: it runs a file with no "#!" line and no known binary
// format as a shell script (so a worker.py without its "#!" line is run by sh, and its
// "import" lines run the program import), and it turns a missing "#!" interpreter into
// exit status 127, which a pool restarts for ever, where a direct start fails with
// "exec format error" or "no such file or directory". The check is the kernel's: an ELF
// file, or "#!" naming an interpreter that exists and is executable; any other file
// passes only when binfmt_misc may know its format.
//
// The check runs in the host's view of the files, as the host's user: a child that sees
// other files (SysProcAttr.Chroot, a mount or user namespace) or runs as another user
// (Credential) is left to its exec.
func refuseWhatExecWouldRefuse(cmd *exec.Cmd) {
	if cmd.Err != nil || seesOtherFiles(cmd.SysProcAttr) {
		return
	}
	if err := directExecError(cmd.Path, cmd.Dir); err != nil {
		cmd.Err = &fs.PathError{Op: "fork/exec", Path: cmd.Path, Err: err}
	}
}

// seesOtherFiles reports whether a child started with attr resolves its command in another
// view of the files than the host's, or checks its permissions as another user.
func seesOtherFiles(attr *syscall.SysProcAttr) bool {
	return attr != nil && (attr.Chroot != "" || attr.Credential != nil ||
		attr.Cloneflags&(unix.CLONE_NEWNS|unix.CLONE_NEWUSER) != 0)
}

// directExecError returns the error execve would return for path, as far as the file's
// metadata and first bytes tell, or nil. A file that is missing (no such file, a symbolic
// link loop, a directory on the way that is a file), a directory, or a file this process
// may not execute is refused as execve refuses it: the shell turned each into exit status
// 127 or 126 before $ready, a crash for a pool, not a start error. A file that cannot be
// read but may be executed is left to the exec.
func directExecError(path, dir string) error {
	full := inDir(path, dir)
	fi, err := os.Stat(full)
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return errno
		}
		return nil
	}
	if fi.IsDir() {
		return syscall.EACCES
	}
	if err := unix.Access(full, unix.X_OK); err != nil {
		return err
	}
	f, err := os.Open(full)
	if err != nil {
		return nil
	}
	defer f.Close()
	head := make([]byte, 256) // the kernel's BINPRM_BUF_SIZE
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("\x7fELF")):
		return nil
	case bytes.HasPrefix(head, []byte("#!")):
		interp, _ := shebang(head)
		if interp == "" {
			return syscall.ENOEXEC
		}
		fi, err := os.Stat(inDir(interp, dir))
		switch {
		case err != nil:
			return syscall.ENOENT // what execve says for a missing interpreter
		case fi.IsDir() || fi.Mode().Perm()&0o111 == 0:
			return syscall.EACCES
		}
		return nil
	case binfmtMiscInUse():
		return nil
	}
	return syscall.ENOEXEC
}

// binfmtMiscInUse reports whether binfmt_misc has formats registered, which could make
// the kernel run a file that is neither ELF nor a "#!" script.
func binfmtMiscInUse() bool {
	entries, err := os.ReadDir("/proc/sys/fs/binfmt_misc")
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.Name() != "register" && e.Name() != "status" {
			return true
		}
	}
	return false
}
