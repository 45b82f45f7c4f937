//go:build unix

package child

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// takeStdio moves the protocol to private duplicates of descriptors 0 and 1, then points
// descriptor 1 at stderr and descriptor 0 at /dev/null, so that nothing else in the
// program (fmt.Println, a C library, a subprocess inheriting stdout) can write into the
// channel or read from it.
func takeStdio() (io.ReadCloser, io.WriteCloser, error) {
	in, err := unix.FcntlInt(0, unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, nil, fmt.Errorf("child: duplicating stdin: %w", err)
	}
	out, err := unix.FcntlInt(1, unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, nil, fmt.Errorf("child: duplicating stdout: %w", err)
	}
	if err := unix.Dup2(2, 1); err != nil {
		return nil, nil, fmt.Errorf("child: pointing stdout at stderr: %w", err)
	}
	if null, err := os.Open(os.DevNull); err == nil {
		_ = unix.Dup2(int(null.Fd()), 0)
		null.Close()
	}
	return os.NewFile(uintptr(in), "polyfork-stdin"), os.NewFile(uintptr(out), "polyfork-stdout"), nil
}

// prepareFD checks that fd is open and marks it close-on-exec, so that processes this
// child starts do not inherit the channel.
func prepareFD(fd int) error {
	if _, err := unix.FcntlInt(uintptr(fd), syscall.F_GETFD, 0); err != nil {
		return err
	}
	syscall.CloseOnExec(fd)
	return nil
}
