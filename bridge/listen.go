package bridge

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ListenMode says how the workers of a Pool share the sockets of WithListeners.
type ListenMode int

const (
	// ListenShared passes the same socket to every worker: one accept queue that every
	// worker takes connections from. The socket belongs to the host, so while a worker
	// restarts, is reloaded or is killed, the workers that are up take every connection
	// and none waits for the one that is down. How evenly the kernel spreads connections
	// depends on how and when the workers wait (the README's cluster section has the
	// measurements). The default.
	ListenShared ListenMode = iota
	// ListenReusePort binds one socket per worker slot on the same address with
	// SO_REUSEPORT, and the kernel spreads new connections over them by a hash of the
	// connection's addresses, evenly whatever the workers do. Each slot's socket still
	// belongs to the host, so a connection hashed to a slot whose worker is down is not
	// refused: it waits in that slot's queue until the replacement takes it (the restart
	// backoff; longer while the pool is crash-looping). Linux only, TCP only. Beware that
	// any process of the same user can bind the same port with SO_REUSEPORT and take a
	// share of the connections.
	ListenReusePort
)

func (m ListenMode) String() string {
	switch m {
	case ListenShared:
		return "shared"
	case ListenReusePort:
		return "reuseport"
	}
	return "ListenMode(" + strconv.Itoa(int(m)) + ")"
}

// ParseListenMode turns "shared" or "reuseport" into a ListenMode.
func ParseListenMode(s string) (ListenMode, bool) {
	switch s {
	case "shared":
		return ListenShared, true
	case "reuseport":
		return ListenReusePort, true
	}
	return 0, false
}

// ListenSocket describes one socket a Pool listens on (Pool.ListenSockets).
type ListenSocket struct {
	Name string   `json:"name"` // its name in LISTEN_FDNAMES
	Addr net.Addr `json:"-"`    // where it listens: the port the system chose for port 0
	// Address is Addr as "tcp:127.0.0.1:3000" or "unix:/run/app.sock".
	Address string `json:"address"`
	// Sockets is 1, or the number of worker slots with ListenReusePort.
	Sockets int `json:"sockets"`
	// Queued is how many connections the kernel has accepted that no worker has taken
	// yet, and Backlog how many it queues before it stops answering new ones (summed over
	// the sockets of ListenReusePort). Both are -1 where the system does not tell (Unix
	// sockets, systems other than Linux). A queue that keeps growing means the workers do
	// not accept.
	Queued  int `json:"queued"`
	Backlog int `json:"backlog"`
	// Listening is false once the socket has stopped listening although the Pool still
	// holds it: a worker called shutdown(2) on its descriptor, which un-listens the socket
	// for every process that shares it (closing the descriptor is what a worker should
	// do), and new connections are refused. While the Pool stops a worker, and at each
	// exit of one, it has a TCP socket listen again on its port, with a warning naming
	// that worker; a Unix socket, or a port another process took meanwhile, stays down
	// until the pool is restarted, with an error. Known for TCP sockets (SO_ACCEPTCONN),
	// and for Unix sockets on Linux (sock_diag); a Unix socket shut down elsewhere keeps
	// reporting true.
	Listening bool `json:"listening"`
}

// ListenError reports a socket a Pool could not listen on or adopt.
type ListenError struct {
	Addr string // the address as given, such as "tcp:127.0.0.1:3000"
	Err  error  // what failed, such as syscall.EADDRINUSE (errors.Is works)
}

func (e *ListenError) Error() string {
	msg := "bridge: cannot listen on " + e.Addr + ": " + e.Err.Error()
	var ns *notSocketError
	switch {
	case errors.As(e.Err, &ns):
	case errors.Is(e.Err, syscall.EADDRINUSE):
		msg += " (another process listens there)"
	case errors.Is(e.Err, syscall.EACCES):
		msg += " (ports below 1024 need privileges)"
	}
	return msg
}

func (e *ListenError) Unwrap() error { return e.Err }

// notSocketError: something that is not a socket is at the path of a Unix socket. The
// pool replaces a stale socket file, never anything else.
type notSocketError struct {
	path string
	mode os.FileMode
}

func (e *notSocketError) Error() string {
	kind := "a file"
	switch {
	case e.mode.IsRegular():
		kind = "a regular file"
	case e.mode.IsDir():
		kind = "a directory"
	case e.mode&os.ModeSymlink != 0:
		kind = "a symbolic link"
	case e.mode&os.ModeNamedPipe != 0:
		kind = "a named pipe"
	}
	return fmt.Sprintf("bind: %s is %s, not a socket: it is in the way of the socket, and is left alone (remove it, or choose another path)", e.path, kind)
}

// Unwrap keeps errors.Is(err, syscall.EADDRINUSE), what bind said.
func (e *notSocketError) Unwrap() error { return syscall.EADDRINUSE }

// listenSpec is one socket a Pool was asked for: an address to bind, a descriptor this
// process inherited, or a listener the caller bound.
type listenSpec struct {
	text    string // as given, for errors
	name    string // LISTEN_FDNAMES entry; "" for the default
	network string // tcp, tcp4, tcp6, unix, fd, systemd, or "" for ln
	address string // host:port, a path, a descriptor number, or a systemd name ("" for all)
	ln      net.Listener
}

// listenConfig is what WithListeners, WithListener and WithListenMode set.
type listenConfig struct {
	specs []listenSpec
	mode  ListenMode
}

// WithListeners makes a Pool listen on each address and pass the sockets to every worker
// it starts, following the systemd socket-activation convention (SPEC section 1.2): the
// sockets are descriptors 3, 4, ... in the order given, with LISTEN_FDS (their number),
// LISTEN_PID (the worker's own pid) and LISTEN_FDNAMES (their names) in the worker's
// environment; a channel on descriptors (ChannelFDs) comes after them. The Pool binds
// the sockets once, in NewPool, and holds them until it is closed: while workers start,
// restart, are reloaded or killed, the port stays open and the kernel queues connections
// for the workers that are up, so no connection is refused.
//
// An address is [NAME=]ADDR, where ADDR is one of
//
//	tcp:HOST:PORT, tcp4:HOST:PORT, tcp6:[HOST]:PORT, or HOST:PORT (TCP; port 0: any free port)
//	unix:PATH                 a Unix-domain socket (unix:@NAME: Linux's abstract namespace)
//	fd:N                      descriptor N, a listening socket this process inherited
//	systemd, systemd:NAME     the sockets systemd passed this process (LISTEN_FDS), or those named NAME
//
// NAME, without ':', is the socket's name in LISTEN_FDNAMES; by default a socket is
// named after its address with every ':' turned into '_' ("127.0.0.1_3000",
// "/run/app.sock"), or keeps the name systemd gave it. A stale Unix socket file (nothing
// listens on it) is replaced; the Pool removes the file it made when it is closed.
// Descriptors taken with fd:N and systemd belong to the Pool from then on; systemd's
// variables are removed from this process's environment, as sd_listen_fds(1) does.
//
// The sockets are passed in non-blocking mode, and that mode belongs to the socket, not
// to each worker's descriptor: a worker must wait for a connection (select, poll, an
// event loop) and take EAGAIN from accept as "another worker took it", never switch the
// socket to blocking (that would stall the event loops of the others).
//
// The socket-activation variables in the host's own environment (LISTEN_FDS, LISTEN_PID,
// LISTEN_FDNAMES) are never passed on; other LISTEN_ names are. Pool option;
// not available on Windows.
func WithListeners(addrs ...string) Option {
	return func(c *config) {
		c.use("WithListeners", scopePool)
		if len(addrs) == 0 {
			c.fail("WithListeners", "no address was given")
		}
		for _, a := range addrs {
			spec, err := parseListen(a)
			if err != nil {
				c.fail("WithListeners", "%v", err)
				continue
			}
			c.pool.listen.specs = append(c.pool.listen.specs, spec)
		}
	}
}

// WithListener passes a listener the caller bound to every worker of a Pool, as
// WithListeners does, named name in LISTEN_FDNAMES ("" names it after its address).
// Several pools may share one listener (workers in different languages behind one
// port). The Pool takes a descriptor of its own for the socket in NewPool and switches
// the socket to non-blocking mode; ln stays the caller's to close (the workers keep the
// socket), and the caller should not accept on it (it would take connections from the
// workers). ln must be a *net.TCPListener or a *net.UnixListener.
func WithListener(name string, ln net.Listener) Option {
	return func(c *config) {
		c.use("WithListener", scopePool)
		if ln == nil {
			c.fail("WithListener", "the listener is nil")
			return
		}
		if err := checkSocketName(name); name != "" && err != nil {
			c.fail("WithListener", "%v", err)
			return
		}
		c.pool.listen.specs = append(c.pool.listen.specs, listenSpec{text: ln.Addr().Network() + ":" + ln.Addr().String(), name: name, ln: ln})
	}
}

// WithListenMode chooses how workers share the sockets of WithListeners (default
// ListenShared). ListenReusePort needs TCP addresses (not fd:N, systemd or a listener of
// WithListener: the Pool binds one socket per worker itself) and Linux.
func WithListenMode(m ListenMode) Option {
	return func(c *config) {
		c.use("WithListenMode", scopePool)
		if m != ListenShared && m != ListenReusePort {
			c.fail("WithListenMode", "%v is not a listen mode", m)
		}
		c.pool.listen.mode = m
	}
}

// checkListenConfig reports what cannot work in the listening sockets asked for.
func checkListenConfig(lc listenConfig) error {
	seen := map[string]string{}
	for _, s := range lc.specs {
		k := s.key()
		if k == "" {
			continue
		}
		if first, ok := seen[k]; ok {
			what := s.text + " is given twice"
			if first != s.text {
				what = first + " and " + s.text + " are the same address, given twice"
			}
			return &OptionError{Option: "WithListeners", Reason: what + ": each socket is bound once and passed to every worker; give it once"}
		}
		seen[k] = s.text
	}
	if lc.mode != ListenReusePort {
		return nil
	}
	if !reusePortSupported {
		return &OptionError{Option: "WithListenMode", Reason: "ListenReusePort needs Linux"}
	}
	for _, s := range lc.specs {
		if !strings.HasPrefix(s.network, "tcp") {
			return &OptionError{Option: "WithListenMode",
				Reason: fmt.Sprintf("ListenReusePort binds one socket per worker, so it needs TCP addresses; %s is not one", s.text)}
		}
	}
	return nil
}

// key identifies the socket spec asks for, so that one given twice is found: "" for one
// that may repeat (port 0 is a new port each time; a listener of WithListener).
func (spec listenSpec) key() string {
	switch spec.network {
	case "tcp", "tcp4", "tcp6":
		host, port, err := net.SplitHostPort(spec.address)
		if err != nil || port == "" || port == "0" {
			return ""
		}
		if ip := net.ParseIP(host); ip != nil {
			host = ip.String()
		}
		return "tcp " + host + " " + port
	case "unix":
		if strings.HasPrefix(spec.address, "@") {
			return "unix " + spec.address
		}
		return "unix " + filepath.Clean(spec.address)
	case "fd", "systemd":
		return spec.network + " " + spec.address
	}
	return ""
}

// checkPort reports a TCP port that no socket can bind: a number over 65535, or a name
// the system does not know.
func checkPort(network, port string) error {
	if port == "" {
		return nil
	}
	if strings.Trim(port, "0123456789") == "" {
		if n, err := strconv.Atoi(port); err != nil || n > 65535 {
			return fmt.Errorf("port %s is out of range (0 to 65535)", port)
		}
		return nil
	}
	if _, err := net.LookupPort(network, port); err != nil {
		return fmt.Errorf("port %q is not a number and not a service name this system knows", port)
	}
	return nil
}

// parseListen reads one address of WithListeners.
func parseListen(s string) (listenSpec, error) {
	spec := listenSpec{text: s}
	addr := s
	// NAME= is a prefix without ':' or '/', so that '=' in a path is not taken for one.
	if i := strings.IndexByte(s, '='); i >= 0 && !strings.ContainsAny(s[:i], ":/") {
		spec.name, addr = s[:i], s[i+1:]
		if err := checkSocketName(spec.name); err != nil {
			return spec, fmt.Errorf("%q: %w", s, err)
		}
		spec.text = addr
	}
	bad := func(why string) (listenSpec, error) {
		return spec, fmt.Errorf("%q: %s; want tcp:HOST:PORT, HOST:PORT, unix:PATH, fd:N or systemd[:NAME]", s, why)
	}
	scheme, rest, hasScheme := strings.Cut(addr, ":")
	switch {
	case hasScheme && (scheme == "tcp" || scheme == "tcp4" || scheme == "tcp6"):
		_, port, err := net.SplitHostPort(rest)
		if err != nil {
			return bad("not HOST:PORT after " + scheme + ":")
		}
		if err := checkPort(scheme, port); err != nil {
			return spec, fmt.Errorf("%q: %w", s, err)
		}
		spec.network, spec.address = scheme, rest
	case hasScheme && scheme == "unix":
		if rest == "" {
			return bad("no path after unix:")
		}
		if len(rest) > maxUnixPath {
			return spec, fmt.Errorf("%q: the socket path is too long: %d bytes, and a Unix socket address holds at most %d; choose a shorter path (a relative one works too)", s, len(rest), maxUnixPath)
		}
		spec.network, spec.address = "unix", rest
	case hasScheme && scheme == "fd":
		n, err := strconv.Atoi(rest)
		if err != nil || n < 3 {
			return bad("fd: takes a descriptor number of 3 or more")
		}
		spec.network, spec.address = "fd", rest
	case addr == "systemd" || (hasScheme && scheme == "systemd"):
		spec.network, spec.address = "systemd", rest
		if rest != "" {
			if err := checkSocketName(rest); err != nil {
				return spec, fmt.Errorf("%q: %w", s, err)
			}
		}
	default:
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return bad("not an address")
		}
		if err := checkPort("tcp", port); err != nil {
			return spec, fmt.Errorf("%q: %w", s, err)
		}
		spec.network, spec.address = "tcp", addr
		spec.text = "tcp:" + addr
	}
	return spec, nil
}

// checkSocketName checks a LISTEN_FDNAMES entry: systemd's rule is up to 255 printable
// ASCII characters other than ':', which separates the names.
func checkSocketName(name string) error {
	if name == "" || len(name) > 255 {
		return fmt.Errorf("socket name %q must have 1 to 255 characters", name)
	}
	for _, r := range name {
		if r <= ' ' || r > '~' || r == ':' {
			return fmt.Errorf("socket name %q may hold only printable ASCII other than ':' and space", name)
		}
	}
	return nil
}

// socketName is the default name of a socket: its address with every ':' (the separator
// of LISTEN_FDNAMES) and every character systemd refuses turned into '_'.
func socketName(addr net.Addr) string {
	s := addr.String()
	if s == "" {
		s = addr.Network()
	}
	b := []byte(s)
	for i, c := range b {
		if c <= ' ' || c > '~' || c == ':' {
			b[i] = '_'
		}
	}
	if len(b) > 255 {
		b = b[:255]
	}
	return string(b)
}

// addressOf writes addr as WithListeners takes it.
func addressOf(addr net.Addr) string {
	switch addr.Network() {
	case "tcp", "tcp4", "tcp6":
		return "tcp:" + addr.String()
	}
	return addr.Network() + ":" + addr.String()
}

// listenEnv returns the LISTEN_FDS and LISTEN_FDNAMES entries for names; LISTEN_PID is
// set in the child itself (see wrapListenPID).
func listenEnv(names []string) []string {
	return []string{
		"LISTEN_FDS=" + strconv.Itoa(len(names)),
		"LISTEN_FDNAMES=" + strings.Join(names, ":"),
	}
}
