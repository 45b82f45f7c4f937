//go:build unix

package bridge

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxUnixPath is the longest path a Unix socket address holds (sun_path, less its
// terminating NUL): 107 bytes on Linux, 103 on the BSDs and macOS.
const maxUnixPath = len(unix.RawSockaddrUnix{}.Path) - 1

// listenSet is the sockets a Pool holds for its workers, bound or adopted in NewPool and
// closed when the pool ends. It is not safe for concurrent use: the Pool reads it only
// after openListenSet returned and closes it once.
type listenSet struct {
	socks []*heldSocket
}

// heldSocket is one socket of WithListeners: one descriptor shared by every worker, or
// one per worker slot (ListenReusePort).
type heldSocket struct {
	name    string
	addr    net.Addr
	files   []*os.File
	unlink  string // a Unix socket file made by the pool, removed when it is closed
	dev     uint64 // ... and its identity, so that a file made by someone else since is kept
	ino     uint64
	isTCP   bool
	network string
}

// openListenSet binds or adopts every socket of lc; slots is the number of workers (the
// number of sockets per address with ListenReusePort). On failure nothing is left open.
func openListenSet(lc listenConfig, slots int) (*listenSet, error) {
	ls := &listenSet{}
	sd := &systemdSockets{}
	for _, spec := range lc.specs {
		var socks []*heldSocket
		var err error
		switch spec.network {
		case "tcp", "tcp4", "tcp6":
			n := 1
			if lc.mode == ListenReusePort {
				n = slots
			}
			var s *heldSocket
			s, err = bindTCP(spec, n)
			socks = []*heldSocket{s}
		case "unix":
			var s *heldSocket
			s, err = bindUnix(spec)
			socks = []*heldSocket{s}
		case "fd":
			n, _ := strconv.Atoi(spec.address)
			var s *heldSocket
			s, err = adoptFD(n, spec.name)
			socks = []*heldSocket{s}
		case "systemd":
			socks, err = sd.take(spec)
		default: // WithListener
			var s *heldSocket
			s, err = adoptListener(spec.ln, spec.name)
			socks = []*heldSocket{s}
		}
		if err != nil {
			ls.close()
			sd.closeUntaken()
			return nil, &ListenError{Addr: spec.text, Err: err}
		}
		ls.socks = append(ls.socks, socks...)
	}
	sd.closeUntaken()
	return ls, nil
}

// names returns the LISTEN_FDNAMES entries, in descriptor order.
func (ls *listenSet) names() []string {
	out := make([]string, len(ls.socks))
	for i, s := range ls.socks {
		out[i] = s.name
	}
	return out
}

// filesFor returns the descriptors the worker of slot passes as 3, 4, ...
func (ls *listenSet) filesFor(slot int) []*os.File {
	out := make([]*os.File, len(ls.socks))
	for i, s := range ls.socks {
		out[i] = s.files[slot%len(s.files)]
	}
	return out
}

// info describes the sockets, with their accept queues as they are now.
func (ls *listenSet) info() []ListenSocket {
	out := make([]ListenSocket, len(ls.socks))
	for i, s := range ls.socks {
		li := s.describe()
		li.Listening = s.listening()
		if s.isTCP {
			for j, f := range s.files {
				q, b, ok := acceptQueue(f)
				if !ok {
					li.Queued, li.Backlog = -1, -1
					break
				}
				if j == 0 {
					li.Queued, li.Backlog = 0, 0
				}
				li.Queued += q
				li.Backlog += b
			}
		}
		out[i] = li
	}
	return out
}

// describe is s as ListenSocket tells it, its accept queue unknown and not listening.
func (s *heldSocket) describe() ListenSocket {
	return ListenSocket{Name: s.name, Addr: s.addr, Address: addressOf(s.addr), Sockets: len(s.files), Queued: -1, Backlog: -1}
}

// revive makes the sockets that no longer listen (see heldSocket.listening) listen again
// where that can be done (heldSocket.relisten). It returns those it revived, and those
// still down with the reason.
func (ls *listenSet) revive() (revived []ListenSocket, down []downSocket) {
	for _, s := range ls.socks {
		if s.listening() {
			continue
		}
		d := s.describe()
		if err := s.relisten(); err != nil {
			down = append(down, downSocket{d, err})
			continue
		}
		d.Listening = true
		revived = append(revived, d)
	}
	return revived, down
}

// listening reports whether every descriptor of s still listens. A worker that calls
// shutdown(2) on its inherited descriptor (an idiom to wake a thread blocked in accept)
// un-listens the socket itself, for the host and every worker: SO_ACCEPTCONN turns 0 (and
// the kernel releases a port it picked). A Unix socket shut down keeps its state and
// SO_ACCEPTCONN but refuses every connection: on Linux the kernel's sock_diag says so
// (unixShutDown); elsewhere it counts as listening.
func (s *heldSocket) listening() bool {
	for _, f := range s.files {
		if !s.fileListening(f) {
			return false
		}
	}
	return true
}

// fileListening reports whether the descriptor f of s listens (see listening).
func (s *heldSocket) fileListening(f *os.File) bool {
	if !s.isTCP {
		if down, known := unixShutDown(f); known && down {
			return false
		}
	}
	sc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	on, gerr := 0, error(nil)
	if err := sc.Control(func(fd uintptr) { on, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ACCEPTCONN) }); err != nil {
		return false
	}
	return gerr != nil || on != 0
}

// relisten makes the TCP socket s listen again once a worker has shut it down:
// shutdown(2) moves a listening TCP socket back to an unconnected one, the same socket
// for every process that holds it, so listen(2) on the pool's descriptor has it accept
// again for every worker, present and future. A port the kernel had picked (":0") was
// released by the shutdown and is bound again first; if another socket took it meanwhile,
// that fails and s stays down. A Unix socket cannot listen again: the kernel keeps it
// shut.
func (s *heldSocket) relisten() error {
	if !s.isTCP {
		return errors.New("a Unix socket that was shut down cannot listen again; the workers hold it")
	}
	for _, f := range s.files {
		if s.fileListening(f) {
			continue
		}
		sc, err := f.SyscallConn()
		if err != nil {
			return err
		}
		var lerr error
		if err := sc.Control(func(fd uintptr) { lerr = relistenFD(int(fd)) }); err != nil {
			return err
		}
		if lerr != nil {
			return lerr
		}
	}
	return nil
}

// relistenFD has the TCP socket fd, shut down, listen again on the address it had
// (getsockname still gives it).
func relistenFD(fd int) error {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fmt.Errorf("reading its address: %w", err)
	}
	want := sockaddrPort(sa)
	// EINVAL: the socket still holds its port, as one bound to a given port does.
	if err := unix.Bind(fd, sa); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("binding port %d again: %w", want, err)
	}
	if err := unix.Listen(fd, math.MaxInt32); err != nil { // the kernel caps it at somaxconn, as Go's own listeners ask
		return fmt.Errorf("listen: %w", err)
	}
	if got, err := unix.Getsockname(fd); err != nil || sockaddrPort(got) != want {
		_ = unix.Shutdown(fd, unix.SHUT_RDWR) // never accept on a port nobody asked for
		return fmt.Errorf("listening again did not take port %d back", want)
	}
	return nil
}

// sockaddrPort is the port of an IPv4 or IPv6 socket address, or -1.
func sockaddrPort(sa unix.Sockaddr) int {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a.Port
	case *unix.SockaddrInet6:
		return a.Port
	}
	return -1
}

// close closes every descriptor and removes the Unix socket files the pool made. Once
// the workers have closed theirs too, the sockets are gone.
func (ls *listenSet) close() {
	for _, s := range ls.socks {
		for _, f := range s.files {
			f.Close()
		}
		if s.unlink != "" {
			var st unix.Stat_t
			if unix.Lstat(s.unlink, &st) == nil && uint64(st.Dev) == s.dev && uint64(st.Ino) == s.ino {
				_ = os.Remove(s.unlink)
			}
		}
	}
	ls.socks = nil
}

// bindTCP binds spec's address: n sockets with SO_REUSEPORT when n > 1 (the first one
// picks the port when the address asks for port 0, the others bind that port).
func bindTCP(spec listenSpec, n int) (*heldSocket, error) {
	lc := net.ListenConfig{}
	if n > 1 {
		lc.Control = setReusePort
	}
	s := &heldSocket{isTCP: true, network: spec.network}
	address := spec.address
	for i := 0; i < n; i++ {
		ln, err := lc.Listen(context.Background(), spec.network, address)
		if err != nil {
			s.closeFiles()
			return nil, syscallCause(err)
		}
		if i == 0 {
			s.addr = ln.Addr()
			address = ln.Addr().String()
		}
		f, err := detach(ln)
		if err != nil {
			s.closeFiles()
			return nil, err
		}
		s.files = append(s.files, f)
	}
	s.name = spec.name
	if s.name == "" {
		s.name = socketName(s.addr)
	}
	return s, nil
}

// bindUnix binds a Unix-domain socket, replacing a stale socket file that nothing
// listens on (a host killed with SIGKILL leaves one).
func bindUnix(spec listenSpec) (*heldSocket, error) {
	path := spec.address
	ln, err := net.Listen("unix", path)
	if err != nil && errors.Is(err, syscall.EADDRINUSE) && !strings.HasPrefix(path, "@") {
		fi, lerr := os.Lstat(path)
		switch {
		case lerr != nil:
		case fi.Mode()&os.ModeSocket == 0:
			return nil, &notSocketError{path: path, mode: fi.Mode()}
		case nobodyListens(path):
			if rerr := os.Remove(path); rerr == nil {
				ln, err = net.Listen("unix", path)
			}
		}
	}
	if err != nil {
		return nil, syscallCause(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	s := &heldSocket{addr: ln.Addr(), name: spec.name, network: "unix"}
	if !strings.HasPrefix(path, "@") {
		var st unix.Stat_t
		if unix.Lstat(path, &st) == nil {
			s.unlink, s.dev, s.ino = path, uint64(st.Dev), uint64(st.Ino)
		}
	}
	f, err := detach(ln)
	if err != nil {
		if s.unlink != "" {
			_ = os.Remove(s.unlink)
		}
		return nil, err
	}
	s.files = []*os.File{f}
	if s.name == "" {
		s.name = socketName(s.addr)
	}
	return s, nil
}

// nobodyListens reports whether nothing listens on the socket file at path (a stale one).
func nobodyListens(path string) bool {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// adoptListener takes a descriptor of its own for a listener the caller bound.
func adoptListener(ln net.Listener, name string) (*heldSocket, error) {
	switch ln.(type) {
	case *net.TCPListener, *net.UnixListener:
	default:
		return nil, fmt.Errorf("a %T is not a *net.TCPListener or *net.UnixListener", ln)
	}
	f, err := listenerFile(ln)
	if err != nil {
		return nil, err
	}
	s := &heldSocket{addr: ln.Addr(), name: name, files: []*os.File{f}, network: ln.Addr().Network()}
	_, s.isTCP = ln.(*net.TCPListener)
	if s.name == "" {
		s.name = socketName(s.addr)
	}
	return s, nil
}

// adoptFD takes over descriptor fd, which must be a listening stream socket.
func adoptFD(fd int, name string) (*heldSocket, error) {
	if err := checkListening(fd); err != nil {
		return nil, err
	}
	f, err := socketFile(fd, "fd "+strconv.Itoa(fd))
	if err != nil {
		return nil, err
	}
	ln, err := net.FileListener(f) // a duplicate, to learn the address
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("descriptor %d: %w", fd, err)
	}
	addr := ln.Addr()
	_, isTCP := ln.(*net.TCPListener)
	ln.Close()
	s := &heldSocket{addr: addr, name: name, files: []*os.File{f}, isTCP: isTCP, network: addr.Network()}
	if s.name == "" {
		s.name = socketName(addr)
	}
	return s, nil
}

// fdOpen reports whether descriptor fd is open in this process.
func fdOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

// checkListening reports why fd is not a listening stream socket, or nil.
func checkListening(fd int) error {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	switch {
	case errors.Is(err, unix.EBADF):
		return fmt.Errorf("descriptor %d is not open", fd)
	case errors.Is(err, unix.ENOTSOCK):
		return fmt.Errorf("descriptor %d is not a socket", fd)
	case err != nil:
		return fmt.Errorf("descriptor %d: %w", fd, err)
	case typ != unix.SOCK_STREAM:
		return fmt.Errorf("descriptor %d is not a stream socket", fd)
	}
	if on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err == nil && on == 0 {
		return fmt.Errorf("descriptor %d is a socket that does not listen", fd)
	}
	return nil
}

// systemdSockets adopts the sockets systemd passed this process (LISTEN_FDS), reading
// the variables once for every systemd address of a pool.
type systemdSockets struct {
	read    bool
	err     error
	names   []string
	fds     []int
	taken   []bool
	matched bool
}

func (sd *systemdSockets) load() error {
	if sd.read {
		return sd.err
	}
	sd.read = true
	fail := func(format string, args ...any) error {
		sd.err = fmt.Errorf(format, args...)
		return sd.err
	}
	n, pid := os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_PID")
	if n == "" {
		return fail("LISTEN_FDS is not set: no sockets were passed to this process")
	}
	if pid != strconv.Itoa(os.Getpid()) {
		return fail("LISTEN_PID=%s is not this process (%d): LISTEN_FDS=%s was inherited from another process, not passed to this one", pid, os.Getpid(), n)
	}
	count, err := strconv.Atoi(n)
	if err != nil || count < 1 {
		return fail("LISTEN_FDS=%q is not a number of descriptors", n)
	}
	// The last descriptor must be open before anything is sized by count: a count of two
	// billion made this process allocate 32 GB and die ("fatal error: out of memory").
	if count > math.MaxInt32-2 || !fdOpen(3+count-1) {
		return fail("LISTEN_FDS=%d, but descriptor %d, the last it passes, is not open", count, uint64(count)+2)
	}
	names := make([]string, count)
	for i := range names {
		names[i] = "unknown" // systemd's name when none is given
	}
	if v, ok := os.LookupEnv("LISTEN_FDNAMES"); ok {
		given := strings.Split(v, ":")
		if len(given) != count {
			return fail("LISTEN_FDNAMES=%q names %d sockets, LISTEN_FDS=%d passes %d", v, len(given), count, count)
		}
		names = given
	}
	for _, v := range []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
		os.Unsetenv(v)
	}
	sd.names = names
	sd.taken = make([]bool, count)
	for i := range names {
		sd.fds = append(sd.fds, 3+i)
	}
	return nil
}

// take adopts the sockets spec asks for: all of them, or those of one name.
func (sd *systemdSockets) take(spec listenSpec) ([]*heldSocket, error) {
	if err := sd.load(); err != nil {
		return nil, err
	}
	var out []*heldSocket
	for i, fd := range sd.fds {
		if sd.taken[i] || (spec.address != "" && sd.names[i] != spec.address) {
			continue
		}
		name := spec.name
		if name == "" {
			name = sd.names[i]
		}
		s, err := adoptFD(fd, name)
		if err != nil {
			for _, o := range out {
				o.closeFiles()
			}
			return nil, err
		}
		sd.taken[i] = true
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("none of the sockets systemd passed (%s) is named %q", strings.Join(sd.names, ", "), spec.address)
	}
	return out, nil
}

// closeUntaken closes the descriptors systemd passed that no address took, so that they
// do not stay open unused (they are this process's: LISTEN_PID said so).
func (sd *systemdSockets) closeUntaken() {
	for i, fd := range sd.fds {
		if !sd.taken[i] {
			unix.Close(fd)
			sd.taken[i] = true
		}
	}
}

func (s *heldSocket) closeFiles() {
	for _, f := range s.files {
		f.Close()
	}
	s.files = nil
}

// detach takes a descriptor of its own for a listener this package bound, and closes the
// listener, which leaves Go's poller watching nothing: the host never accepts.
func detach(ln net.Listener) (*os.File, error) {
	f, err := listenerFile(ln)
	ln.Close()
	return f, err
}

// listenerFile returns a descriptor of its own for ln's socket, as a file.
func listenerFile(ln net.Listener) (*os.File, error) {
	fd, err := dupListener(ln)
	if err != nil {
		return nil, err
	}
	f, err := socketFile(fd, "listener "+ln.Addr().String())
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return f, nil
}

// dupListener duplicates a listener's descriptor (close-on-exec; exec clears that for
// the workers' copies).
func dupListener(ln net.Listener) (int, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("a %T has no descriptor", ln)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	nfd, derr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 3) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("duplicating the listener's descriptor: %w", derr)
	}
	return nfd, nil
}

// socketFile wraps a socket descriptor in an *os.File that Go's poller does not watch
// (nothing in the host accepts on it, so no wake-up per connection) and leaves the socket
// in non-blocking mode. The order matters: os.NewFile registers a descriptor that is
// already non-blocking with the poller, and exec's File.Fd would switch a descriptor
// that os made non-blocking back to blocking, for every worker sharing the socket.
func socketFile(fd int, name string) (*os.File, error) {
	if err := unix.SetNonblock(fd, false); err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	if err := unix.SetNonblock(fd, true); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// syscallCause shortens "listen tcp 127.0.0.1:3000: bind: address already in use" to
// "bind: address already in use": the ListenError names the address already.
func syscallCause(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se
	}
	return err
}
