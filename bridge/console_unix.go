//go:build unix

package bridge

import (
	"os"
	"syscall"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

const consoleSupported = true

// openConsole opens a pseudo-terminal of the size o says: the host's end (master) and the
// child's (tty).
func openConsole(o *ConsoleOptions) (master, tty *os.File, err error) {
	m, tty, err := pty.Open()
	if err != nil {
		return nil, nil, err
	}
	// pty.Open leaves the master in blocking mode (its ioctls go through File.Fd), and a
	// Read blocked on a blocking descriptor outlives Close. A close-on-exec duplicate in
	// non-blocking mode goes through the runtime's poller instead, so Close interrupts it.
	master, err = dupNonblock(m)
	m.Close()
	if err != nil {
		tty.Close()
		return nil, nil, err
	}
	if err := setWinsize(master, o.Cols, o.Rows); err != nil {
		master.Close()
		tty.Close()
		return nil, nil, err
	}
	return master, tty, nil
}

// consoleProcAttr makes the child the leader of a session of its own whose controlling
// terminal is its stdin (the console). A session leader leads its process group too, so
// the group signals reach it as they would with Setpgid, which cannot go with Setsid.
func consoleProcAttr(attr *syscall.SysProcAttr) {
	attr.Setpgid, attr.Pgid = false, 0
	attr.Setsid, attr.Setctty, attr.Ctty = true, true, 0
}

// setWinsize sets a terminal's window size without leaving blocking mode (which
// File.Fd, and so pty.Setsize, would).
func setWinsize(f *os.File, cols, rows int) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	ws := &unix.Winsize{Col: uint16(cols), Row: uint16(rows)}
	var ioErr error
	if err := sc.Control(func(fd uintptr) { ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws) }); err != nil {
		return err
	}
	return ioErr
}

// dupNonblock returns a close-on-exec duplicate of f in non-blocking mode, which the
// runtime's poller serves: its deadlines are its own.
func dupNonblock(f *os.File) (*os.File, error) {
	sc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var dupErr error
	if err := sc.Control(func(s uintptr) { fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, dupErr
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// writeNow writes what f takes of p without waiting for room, and returns how much.
func writeNow(f *os.File, p []byte) int {
	sc, err := f.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	_ = sc.Control(func(fd uintptr) {
		for n < len(p) {
			k, err := unix.Write(int(fd), p[n:])
			if err == unix.EINTR {
				continue
			}
			if k <= 0 || err != nil {
				return
			}
			n += k
		}
	})
	return n
}

// groupOfItsOwn makes the child lead a process group of its own: with Setpgid, or, when the
// caller asked for a session of its own (Setsid), as that session's leader, which leads its
// group too (as a console's child does). Setpgid cannot go with Setsid: the start failed
// with "operation not permitted".
func groupOfItsOwn(attr *syscall.SysProcAttr) {
	if attr.Setsid {
		attr.Setpgid, attr.Pgid = false, 0
		return
	}
	attr.Setpgid, attr.Pgid = true, 0
}
