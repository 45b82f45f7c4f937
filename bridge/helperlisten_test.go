package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/polyfork/polyfork/protocol"
	"golang.org/x/sys/unix"
)

// helperListenChild plays the children of the cluster tests: HTTP servers on the
// listening sockets a Pool passes (LISTEN_FDS), with or without the protocol, and
// children that misbehave with them. It reports whether mode was one of its own.
func helperListenChild(mode string, args []string) bool {
	startKinds = descriptorKinds()
	switch mode {
	case "http": // a plain server: no protocol, stops on SIGTERM after finishing its requests
		serveHTTPUntilSignal(takeListeners())
	case "http_protocol": // the same server, stopped by $stop over its channel
		serveHTTPWithProtocol(takeListeners())
	case "http_noaccept": // takes the sockets and never accepts
		takeListeners()
		waitForSignal()
	case "http_close": // closes the sockets it was given
		for _, ln := range takeListeners() {
			ln.Close()
		}
		for fd := 3; fd < 3+listenFDs(); fd++ {
			unix.Close(fd)
		}
		waitForSignal()
	case "http_shutdown": // serves; on SIGTERM shuts the inherited socket down (an idiom to wake an accept loop), then exits (after args[0], a duration)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		lns := takeListeners()
		served := make([]net.Listener, len(lns))
		for i, ln := range lns {
			served[i] = retryingListener{ln}
		}
		serveHTTP(served)
		<-sig
		stopAccepting.Store(true)
		rc, _ := lns[0].(syscall.Conn).SyscallConn() // TCP or Unix
		_ = rc.Control(func(fd uintptr) { _ = unix.Shutdown(int(fd), unix.SHUT_RDWR) })
		if linger, err := time.ParseDuration(arg(args, 0)); err == nil {
			time.Sleep(linger) // finishing its requests, as a server does after it stopped accepting
		}
		os.Exit(0)
	case "http_first_noaccept": // the first worker to start never accepts; the others serve
		if f, err := os.OpenFile(args[0], os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
			f.Close()
			takeListeners()
			waitForSignal()
		}
		serveHTTPUntilSignal(takeListeners())
	case "plain": // no protocol, no sockets: sets up its signals, says so, waits for SIGTERM
		sig := make(chan os.Signal, 1)
		switch arg(args, 0) {
		case "ignore_term":
			signal.Ignore(syscall.SIGTERM)
		case "die_of_term": // the default action: killed by the signal
		default:
			signal.Notify(sig, syscall.SIGTERM)
		}
		fmt.Fprintf(os.Stderr, "plain child %d on stderr\n", os.Getpid())
		fmt.Printf("plain child %d on stdout\n", os.Getpid())
		if arg(args, 0) == "exit" {
			code, _ := strconv.Atoi(arg(args, 1))
			os.Exit(code)
		}
		<-sig
	default:
		return false
	}
	os.Exit(0)
	return true
}

// retryingListener accepts on after an error, as Python's socketserver and asyncio loops do:
// a socket shut down by another worker fails accept(2) until it listens again. Once
// stopAccepting is set (this worker stops), an error ends its accept loop.
type retryingListener struct{ net.Listener }

var stopAccepting atomic.Bool

func (l retryingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err == nil || errors.Is(err, net.ErrClosed) || stopAccepting.Load() {
			return c, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func arg(args []string, i int) string {
	if i < len(args) {
		return args[i]
	}
	return ""
}

// waitForSignal returns on SIGTERM or SIGINT.
func waitForSignal() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}

// listenFDs returns LISTEN_FDS when LISTEN_PID is this process, as a client library's
// helper does, or 0.
func listenFDs() int {
	if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
		return 0
	}
	n, _ := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	return n
}

// startKinds is what descriptors 3, 4, ... were when this process started, up to the
// first that was not open: "socket", "pipe" or "other" and its path. The Go runtime's
// own (epoll and eventfd, and the cgroup files it reads for GOMAXPROCS) are left out.
var startKinds []string

func descriptorKinds() []string {
	var kinds []string
	for fd := 3; fd < 64; fd++ {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			break
		}
		link, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		if strings.HasPrefix(link, "anon_inode:") || strings.HasPrefix(link, "/sys/fs/cgroup/") {
			continue
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFSOCK:
			kinds = append(kinds, "socket")
		case unix.S_IFIFO:
			kinds = append(kinds, "pipe")
		default:
			kinds = append(kinds, "other "+link)
		}
	}
	return kinds
}

// startedNonblocking records whether descriptor 3 was non-blocking before this process
// touched it (net.FileListener makes it so).
var startedNonblocking string

// takeListeners turns descriptors 3.. into listeners, exiting with status 3 when
// LISTEN_PID is not this process (the pool must set it to the worker's own pid).
func takeListeners() []net.Listener {
	if pid := os.Getenv("LISTEN_PID"); pid != strconv.Itoa(os.Getpid()) {
		fmt.Fprintf(os.Stderr, "LISTEN_PID=%q is not my pid %d\n", pid, os.Getpid())
		os.Exit(3)
	}
	if fl, err := unix.FcntlInt(3, unix.F_GETFL, 0); err == nil {
		startedNonblocking = strconv.FormatBool(fl&unix.O_NONBLOCK != 0)
	}
	var out []net.Listener
	for fd := 3; fd < 3+listenFDs(); fd++ {
		f := os.NewFile(uintptr(fd), "listen")
		ln, err := net.FileListener(f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "descriptor %d: %v\n", fd, err)
			os.Exit(3)
		}
		f.Close()
		out = append(out, ln)
	}
	return out
}

// httpHandler answers with this process's pid, environment and descriptors.
func httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "%d\n", os.Getpid()) })
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		v, ok := os.LookupEnv(r.URL.Query().Get("name"))
		if !ok {
			v = "(unset)"
		}
		fmt.Fprint(w, v)
	})
	mux.HandleFunc("/nonblock", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, startedNonblocking) })
	mux.HandleFunc("/fds", func(w http.ResponseWriter, r *http.Request) { _ = json.NewEncoder(w).Encode(startKinds) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprintf(w, "%d\n", os.Getpid())
	})
	return mux
}

// serveHTTP serves every listener and returns a function that stops accepting and waits
// for the requests in flight.
//
// It is more careful than http.Server.Shutdown alone, which can drop a connection just
// accepted: Shutdown may return before Serve has tracked it, and a server shutting down
// drops a request it reads after Shutdown began (net/http's conn.serve). So it closes the
// listeners, waits for Serve to return (Serve tracks what it accepted before it
// returns), waits for every new connection's request to be read, and only then shuts
// down, which waits for the requests being handled.
func serveHTTP(lns []net.Listener) (shutdown func()) {
	var mu sync.Mutex
	fresh := map[net.Conn]bool{} // accepted, request not read yet
	srv := &http.Server{Handler: httpHandler(), ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(c net.Conn, st http.ConnState) {
			mu.Lock()
			defer mu.Unlock()
			if st == http.StateNew {
				fresh[c] = true
			} else {
				delete(fresh, c)
			}
		}}
	var serving sync.WaitGroup
	for _, ln := range lns {
		serving.Add(1)
		go func() {
			defer serving.Done()
			_ = srv.Serve(ln)
		}()
	}
	return func() {
		for _, ln := range lns {
			ln.Close()
		}
		serving.Wait()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			mu.Lock()
			n := len(fresh)
			mu.Unlock()
			if n == 0 {
				break
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
}

func serveHTTPUntilSignal(lns []net.Listener) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	shutdown := serveHTTP(lns)
	<-sig
	shutdown()
	os.Exit(0)
}

// serveHTTPWithProtocol serves HTTP and the protocol; $stop (or end of input) stops both,
// the HTTP requests in flight finished first.
func serveHTTPWithProtocol(lns []net.Listener) {
	in, out := os.Stdin, os.Stdout
	if v := os.Getenv(protocol.EnvChannelFDs); v != "" {
		var r, w int
		if _, err := fmt.Sscanf(v, "%d,%d", &r, &w); err != nil {
			os.Exit(2)
		}
		in, out = os.NewFile(uintptr(r), "in"), os.NewFile(uintptr(w), "out")
	}
	shutdown := serveHTTP(lns)
	stop := make(chan struct{}, 1)
	conn, err := NewConn(in, out,
		WithChildRole(ReadyInfo{Lang: "go-test", Lib: "helperlisten"}, func() { stop <- struct{}{} }),
		WithHandler("pid", func(ctx context.Context, a Args) (any, error) { return os.Getpid(), nil }),
		WithHandler("env", func(ctx context.Context, a Args) (any, error) {
			var name string
			_ = a.Decode(&name)
			return os.Getenv(name), nil
		}),
		WithHandler("fds", func(ctx context.Context, a Args) (any, error) { return startKinds, nil }))
	if err != nil {
		panic(err)
	}
	select {
	case <-stop:
	case <-conn.Done():
	}
	shutdown()
	_ = conn.Drain(context.Background())
	_ = conn.Flush(context.Background())
	conn.Close()
	os.Exit(0)
}
