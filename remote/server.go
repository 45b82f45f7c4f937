package remote

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

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

// Server is a NATS server running in this process.
type Server struct {
	*server.Server
	tmpDir string
}

// RunServer starts a NATS server in this process and waits until it takes connections.
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
	}
	if port > 0 {
		// nats-server reports a port it cannot bind only in its log, and then never takes
		// connections: try the address first, so a busy port fails at once and says so.
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return nil, fmt.Errorf("remote: the NATS server cannot listen on %s: %w", net.JoinHostPort(host, strconv.Itoa(port)), err)
		}
		ln.Close()
	}
	s := &Server{}
	if opts.JetStream && opts.StoreDir == "" {
		dir, err := os.MkdirTemp("", "polyfork-nats-")
		if err != nil {
			return nil, fmt.Errorf("remote: a directory for JetStream: %w", err)
		}
		s.tmpDir, opts.StoreDir = dir, dir
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		s.cleanup()
		return nil, fmt.Errorf("remote: the NATS server: %w", err)
	}
	if cfg.Logs {
		ns.ConfigureLogger()
	}
	s.Server = ns
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		s.cleanup()
		return nil, errors.New("remote: the NATS server did not take connections within 10s (is the port free?)")
	}
	return s, nil
}

// Shutdown stops the server, waits until it has stopped, and removes its temporary
// directory.
func (s *Server) Shutdown() {
	s.Server.Shutdown()
	s.Server.WaitForShutdown()
	s.cleanup()
}

func (s *Server) cleanup() {
	if s.tmpDir != "" {
		_ = os.RemoveAll(s.tmpDir)
	}
}
