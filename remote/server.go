package remote

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	srvlog "github.com/nats-io/nats-server/v2/logger"
	"github.com/nats-io/nats-server/v2/server"
)

// ServerConfig configures an embedded NATS server (RunServer): the single-machine default of
// polyfork agent -embed-nats, and what tests run.
type ServerConfig struct {
	// Addr is host:port to listen on. The default, "", is 127.0.0.1 on a free port: an
	// embedded server listens on loopback unless told otherwise.
	Addr string
	// StoreDir is where JetStream keeps durable sends. "" uses a fresh temporary directory,
	// removed by Shutdown.
	StoreDir string
	// NoJetStream turns JetStream off: no durable sends, and bodies above MaxPayload fail
	// with a *PayloadError instead of travelling through the object store.
	NoJetStream bool
	// MaxPayload is the largest message the server accepts, 1 MiB by default (NATS's own
	// default). At most 64 MiB.
	MaxPayload int32
	// Logs, if true, sends the server's own log to stderr.
	Logs bool
}

// pingInterval is how often an embedded server pings its clients.
const pingInterval = 5 * time.Second

// Server is a NATS server running in this process.
type Server struct {
	*server.Server
	tmpDir string
}

// RunServer starts a NATS server in this process and waits until it takes connections. It
// pings its clients every 5 s and drops one that leaves two pings unanswered, so that a
// partitioned agent stops getting calls within 15 s (nats-server's default: about 4 min).
func RunServer(cfg ServerConfig) (*Server, error) {
	host, port := "127.0.0.1", -1
	if cfg.Addr != "" {
		h, p, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("remote: the NATS server's address %q: want host:port, such as 127.0.0.1:4222", cfg.Addr)
		}
		if h != "" {
			host = h
		}
		if port, err = strconv.Atoi(p); err != nil || port < 0 || port > 65535 {
			return nil, fmt.Errorf("remote: the NATS server's address %q: %q is not a port", cfg.Addr, p)
		}
		if port == 0 {
			port = -1 // nats-server's "any free port"
		}
	}
	if cfg.MaxPayload < 0 || cfg.MaxPayload > 64<<20 {
		return nil, fmt.Errorf("remote: the NATS server's max payload %d is outside 0 .. 64 MiB", cfg.MaxPayload)
	}
	opts := &server.Options{
		Host: host, Port: port, NoSigs: true, NoLog: !cfg.Logs, MaxPayload: cfg.MaxPayload,
		JetStream: !cfg.NoJetStream, StoreDir: cfg.StoreDir,
		ServerName: "polyfork-embedded",
		// A client that stops answering (a partitioned agent: its TCP connection stays
		// open) is dropped after pingInterval * (MaxPingsOut + 1) at most, not the default
		// 2 min * 3: until then the server hands it its share of the service's calls,
		// each lost after the heartbeat bound.
		PingInterval: pingInterval, MaxPingsOut: 2,
	}
	s := &Server{}
	if opts.JetStream && opts.StoreDir == "" {
		dir, err := os.MkdirTemp("", "polyfork-nats-")
		if err != nil {
			// The temporary directory comes from TMPDIR, which the user may not know
			// polyfork reads: name it.
			return nil, fmt.Errorf("remote: a directory for JetStream in the temporary directory %s (TMPDIR; or give JetStream a directory: StoreDir, polyfork agent -embed-store): %w", os.TempDir(), err)
		}
		s.tmpDir, opts.StoreDir = dir, dir
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		s.cleanup()
		return nil, fmt.Errorf("remote: the NATS server: %w", err)
	}
	// nats-server reports why it cannot start (a busy port, a bad store directory) only
	// through its logger's Fatalf, then never takes connections; its standard logger
	// would end this process. startLog keeps that error for RunServer to return.
	lg := &startLog{}
	if cfg.Logs {
		stat, err := os.Stderr.Stat()
		colors := err == nil && stat.Mode()&os.ModeCharDevice != 0
		lg.next = srvlog.NewStdLogger(false, false, false, colors, true)
	}
	ns.SetLoggerV2(lg, false, false, false)
	s.Server = ns
	ns.Start()
	for deadline := time.Now().Add(10 * time.Second); ; {
		ready := ns.ReadyForConnections(50 * time.Millisecond)
		if err := lg.fatal(); err != nil {
			s.Shutdown()
			return nil, err
		}
		if ready {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Shutdown()
			return nil, errors.New("remote: the NATS server did not take connections within 10s")
		}
	}
}

// startLog is the embedded server's logger: it keeps the first fatal error, which
// RunServer returns, and passes every line on to next (nil: no log) with fatal ones as
// errors, so that they never end the process.
type startLog struct {
	next server.Logger

	mu  sync.Mutex
	err error
}

// fatal returns the first fatal error logged, or nil.
func (l *startLog) fatal() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Fatalf keeps the error: nats-server logs "Error listening on port: %s, %q" (the address
// and the listen error) for a port it cannot bind.
func (l *startLog) Fatalf(format string, v ...any) {
	err := fmt.Errorf("remote: the NATS server failed to start: %s", fmt.Sprintf(format, v...))
	if strings.HasPrefix(format, "Error listening on port") && len(v) == 2 {
		err = fmt.Errorf("remote: the NATS server cannot listen on %v: %v", v[0], v[1])
	}
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.mu.Unlock()
	if l.next != nil {
		l.next.Errorf(format, v...)
	}
}

// Noticef passes a notice on.
func (l *startLog) Noticef(format string, v ...any) {
	if l.next != nil {
		l.next.Noticef(format, v...)
	}
}

// Warnf passes a warning on.
func (l *startLog) Warnf(format string, v ...any) {
	if l.next != nil {
		l.next.Warnf(format, v...)
	}
}

// Errorf passes an error on.
func (l *startLog) Errorf(format string, v ...any) {
	if l.next != nil {
		l.next.Errorf(format, v...)
	}
}

// Debugf passes a debug line on (the server sends none: debug is off).
func (l *startLog) Debugf(format string, v ...any) {
	if l.next != nil {
		l.next.Debugf(format, v...)
	}
}

// Tracef passes a trace line on (the server sends none: trace is off).
func (l *startLog) Tracef(format string, v ...any) {
	if l.next != nil {
		l.next.Tracef(format, v...)
	}
}

// Shutdown stops the server, waits until it has stopped, and removes its temporary
// directory.
func (s *Server) Shutdown() {
	if s == nil || s.Server == nil {
		return // a zero Server, not made by RunServer: nothing runs (it panicked)
	}
	s.Server.Shutdown()
	s.Server.WaitForShutdown()
	s.cleanup()
}

func (s *Server) cleanup() {
	if s.tmpDir != "" {
		_ = os.RemoveAll(s.tmpDir)
	}
}
