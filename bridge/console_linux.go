package bridge

import (
	"bytes"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// terminalSignal finds in p the first character that the terminal's line discipline
// turns into a signal (its modes' interrupt, quit and suspend characters, when ISIG is
// set), and returns that signal and the character's index; 0 if there is none.
func terminalSignal(master *os.File, p []byte) (syscall.Signal, int) {
	sc, err := master.SyscallConn()
	if err != nil {
		return 0, -1
	}
	var tio *unix.Termios
	// On a master, TCGETS gives the modes of the terminal's other end: the child's.
	if cerr := sc.Control(func(fd uintptr) { tio, err = unix.IoctlGetTermios(int(fd), unix.TCGETS) }); cerr != nil || err != nil || tio.Lflag&unix.ISIG == 0 {
		return 0, -1
	}
	best, at := syscall.Signal(0), -1
	for _, c := range []struct {
		ch  byte
		sig syscall.Signal
	}{{tio.Cc[unix.VINTR], syscall.SIGINT}, {tio.Cc[unix.VQUIT], syscall.SIGQUIT}, {tio.Cc[unix.VSUSP], syscall.SIGTSTP}} {
		if c.ch == 0 { // _POSIX_VDISABLE
			continue
		}
		if i := bytes.IndexByte(p, c.ch); i >= 0 && (at < 0 || i < at) {
			best, at = c.sig, i
		}
	}
	return best, at
}

// sendTerminalSignal sends sig to the foreground process group of the terminal whose
// master is given, as typing its character would.
func sendTerminalSignal(master *os.File, sig syscall.Signal) error {
	sc, err := master.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	if err := sc.Control(func(fd uintptr) { ioErr = unix.IoctlSetInt(int(fd), unix.TIOCSIG, int(sig)) }); err != nil {
		return err
	}
	return ioErr
}

// flushTerminalInput discards the input the terminal whose child end is given holds and
// its child has not read, as the line discipline does when a signal key is typed, unless
// the terminal's modes say NOFLSH. A closed tty (the child was reaped) is left alone.
func flushTerminalInput(tty *os.File) {
	if tty == nil {
		return
	}
	sc, err := tty.SyscallConn()
	if err != nil {
		return
	}
	_ = sc.Control(func(fd uintptr) {
		if tio, err := unix.IoctlGetTermios(int(fd), unix.TCGETS); err == nil && tio.Lflag&unix.NOFLSH == 0 {
			_ = unix.IoctlSetInt(int(fd), unix.TCFLSH, unix.TCIFLUSH)
		}
	})
}
