package bridge

import (
	"encoding/binary"
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

// unixShutDown asks the kernel (sock_diag, as ss(8) does) whether the listening Unix
// socket f was shut down for reading: such a socket keeps its LISTEN state and
// SO_ACCEPTCONN, but refuses every connection. known is false when the kernel cannot
// say (no unix_diag), and then the socket counts as listening.
func unixShutDown(f *os.File) (down, known bool) {
	sc, err := f.SyscallConn() // (not f.Fd(), which would make the shared socket blocking)
	if err != nil {
		return false, false
	}
	var st unix.Stat_t
	var serr error
	if err := sc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil || serr != nil {
		return false, false
	}
	nl, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return false, false
	}
	defer unix.Close(nl)
	// struct nlmsghdr, then struct unix_diag_req (include/uapi/linux/unix_diag.h): this
	// socket's inode, any state, no cookie (INET_DIAG_NOCOOKIE). The reply always carries
	// UNIX_DIAG_SHUTDOWN.
	const reqLen = unix.SizeofNlMsghdr + 24
	req := make([]byte, reqLen)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], reqLen)
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(req[8:], 1) // seq
	b := req[unix.SizeofNlMsghdr:]
	b[0] = unix.AF_UNIX
	ne.PutUint32(b[4:], ^uint32(0))     // udiag_states: all
	ne.PutUint32(b[8:], uint32(st.Ino)) // udiag_ino
	ne.PutUint32(b[16:], ^uint32(0))    // udiag_cookie
	ne.PutUint32(b[20:], ^uint32(0))
	if err := unix.Sendto(nl, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return false, false
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(nl, buf, 0)
	if err != nil {
		return false, false
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil || len(msgs) == 0 || msgs[0].Header.Type != unix.SOCK_DIAG_BY_FAMILY {
		return false, false // NLMSG_ERROR: no unix_diag, or no such socket
	}
	// struct unix_diag_msg (16 bytes), then its attributes.
	data := msgs[0].Data
	if len(data) < 16 || ne.Uint32(data[4:]) != uint32(st.Ino) {
		return false, false
	}
	for attrs := data[16:]; len(attrs) >= unix.SizeofRtAttr; {
		size, typ := int(ne.Uint16(attrs[0:])), ne.Uint16(attrs[2:])
		if size < unix.SizeofRtAttr || size > len(attrs) {
			break
		}
		if typ == unixDiagShutdown && size > unix.SizeofRtAttr {
			return attrs[unix.SizeofRtAttr]&rcvShutdown != 0, true
		}
		attrs = attrs[min(len(attrs), (size+3)&^3):]
	}
	return false, false
}

// unixDiagShutdown is UNIX_DIAG_SHUTDOWN of include/uapi/linux/unix_diag.h, and
// rcvShutdown RCV_SHUTDOWN of include/net/sock.h: the bit a listener refuses by.
const (
	unixDiagShutdown = 6
	rcvShutdown      = 1
)
