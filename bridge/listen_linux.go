package bridge

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePortSupported: Linux spreads connections over the sockets of a SO_REUSEPORT group
// (since 3.9); the BSDs and macOS give them all to one socket.
const reusePortSupported = true

// setReusePort is a net.ListenConfig Control that sets SO_REUSEPORT before bind.
func setReusePort(network, address string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return serr
}

// tcpListen is TCP_LISTEN of the kernel's include/net/tcp_states.h.
const tcpListen = 10

// acceptQueue reads a listening TCP socket's accept queue: the connections waiting for
// a worker, and the most the kernel queues (TCP_INFO reports them as unacked and sacked
// for a socket in the LISTEN state).
func acceptQueue(f *os.File) (queued, backlog int, ok bool) {
	sc, err := f.SyscallConn()
	if err != nil {
		return 0, 0, false
	}
	var info *unix.TCPInfo
	var ierr error
	if err := sc.Control(func(fd uintptr) {
		info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil || ierr != nil || info.State != tcpListen {
		return 0, 0, false
	}
	return int(info.Unacked), int(info.Sacked), true
}
