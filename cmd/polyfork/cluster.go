package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/polyfork/polyfork/bridge"
)

const clusterAbout = `Bind the -listen addresses once and run N workers of COMMAND that share the sockets:
the seed's cluster for any language. A worker finds them as descriptors 3, 4, ... in
the order of the -listen flags, with LISTEN_FDS, LISTEN_PID (its own pid) and
LISTEN_FDNAMES, as under systemd socket activation: Node's server.listen({fd: 3}),
uvicorn --fd 3, the polyfork clients' listen helpers. The sockets stay open while
workers start, restart, reload or crash: connections wait in the kernel's queue for the
workers that are up, none is refused.

ADDR is [NAME=]HOST:PORT, tcp:HOST:PORT, tcp6:[HOST]:PORT, unix:PATH, fd:N (a listening
socket polyfork inherited), systemd or systemd:NAME (the sockets systemd passed
polyfork). NAME names the socket in LISTEN_FDNAMES.

A worker that exits is restarted: at once, then with backoff; many exits in a row are
logged as a crash loop, and the restarts go on. Each exit and start is logged.

With -channel none (the default) the workers are plain servers: ready once started,
stopped with SIGTERM, then SIGKILL after -stop-grace. With -channel fd (or stdio) they
speak the polyfork protocol: ready when they send $ready, stopped with $stop.

SIGHUP replaces the workers one by one, each new one started before the old one is
stopped (with -channel none, up for a second: one that exits sooner, a broken deploy,
fails the reload and the old workers serve on); a SIGHUP during a reload replaces them
all once more after it. SIGTERM or SIGINT drain: the workers are asked to stop, answer what they
accepted and exit; the sockets close with the last of them; polyfork exits 0. A second
SIGTERM or SIGINT during the drain kills the workers and exits 3.

-admin serves GET /healthz (200 when a worker runs and every socket listens, else
503), /workers (their stats and the sockets' accept queues, as JSON) and /metrics
(Prometheus). A socket stops listening for good if a worker calls shutdown(2) on it
(close it instead): polyfork logs an error naming the worker, and restarting polyfork
is the cure.

example:
  polyfork cluster -listen 127.0.0.1:3000 -workers 4 -admin 127.0.0.1:3001 -- node server.js
`

// clusterFlags are the options of polyfork cluster.
type clusterFlags struct {
	listen       listFlag
	listenMode   string
	workers      int
	channel      string
	admin        string
	startTimeout time.Duration
	stopGrace    time.Duration
	drain        time.Duration
	maxLifetime  time.Duration
	maxRSS       byteSize
	logFormat    string
}

func (f *clusterFlags) define(fs *flag.FlagSet) {
	fs.Var(&f.listen, "listen", "an address to listen on; repeat it for several sockets (descriptors 3, 4, ... in order)")
	fs.StringVar(&f.listenMode, "listen-mode", "shared", "shared: one socket, one accept queue for every worker; reuseport: one SO_REUSEPORT socket per worker, spread evenly by the kernel (Linux, TCP)")
	fs.IntVar(&f.workers, "workers", runtime.NumCPU(), "number of workers")
	fs.StringVar(&f.channel, "channel", "none", "none: plain servers (ready once started, stopped with SIGTERM); fd or stdio: they speak the polyfork protocol on that channel (ready at $ready, stopped with $stop)")
	fs.StringVar(&f.admin, "admin", "", "address of the admin HTTP server (GET /healthz, /workers, /metrics); none when empty")
	fs.DurationVar(&f.startTimeout, "start-timeout", 10*time.Second, "with a channel: longest a worker may take to send $ready")
	fs.DurationVar(&f.stopGrace, "stop-grace", 10*time.Second, "how long a worker asked to stop may take to answer what it accepted before it is killed")
	fs.DurationVar(&f.drain, "drain", 30*time.Second, "on SIGTERM or SIGINT, how long the whole drain may take")
	fs.DurationVar(&f.maxLifetime, "max-lifetime", 0, "replace a worker after about this long (0: never)")
	fs.Var(&f.maxRSS, "max-rss", "replace a worker whose resident memory exceeds this, e.g. 512MiB (0: no limit)")
	fs.StringVar(&f.logFormat, "log-format", "text", "log record format on stderr: text or json")
}

// validate returns every problem with the flags, one per line.
func (f *clusterFlags) validate() []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if len(f.listen.values) == 0 {
		bad("at least one -listen ADDR is needed, such as -listen 127.0.0.1:3000")
	}
	if _, ok := bridge.ParseListenMode(f.listenMode); !ok {
		bad("-listen-mode must be shared or reuseport, got %q", f.listenMode)
	}
	if _, ok := bridge.ParseChannel(f.channel); !ok || f.channel == "fds" {
		bad("-channel must be none, fd or stdio, got %q", f.channel)
	}
	if f.workers < 1 {
		bad("-workers must be at least 1, got %d", f.workers)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"start-timeout", f.startTimeout}, {"stop-grace", f.stopGrace}, {"drain", f.drain}} {
		if d.v <= 0 {
			bad("-%s must be positive, got %v", d.name, d.v)
		}
	}
	if f.maxLifetime < 0 {
		bad("-max-lifetime must not be negative, got %v", f.maxLifetime)
	}
	if f.logFormat != "text" && f.logFormat != "json" {
		bad("-log-format must be text or json, got %q", f.logFormat)
	}
	return errs
}

func runCluster(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newCommand("cluster", "polyfork cluster -listen ADDR [-listen ADDR2...] [flags] -- COMMAND [ARG...]", clusterAbout, clusterExits)
	var f clusterFlags
	f.define(cmd.flags)
	var cf childFlags
	cf.registerIsolation(cmd.flags)
	var code int
	positional, argv, ok := cmd.parse(args, stdout, stderr, &code)
	switch {
	case !ok:
		return code
	case len(positional) != 0:
		return cmd.usageError(stderr, "unexpected argument %q before \"--\"", positional[0])
	case len(argv) == 0:
		return cmd.usageError(stderr, "want \"-- COMMAND [ARG...]\"")
	}
	errs := f.validate()
	iso, err := cf.isolationOptions()
	if err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return cmd.usageError(stderr, "%s", strings.Join(errs, "\n  "))
	}
	sink := newLogSink(stderr) // the logger and the workers' relays share it (serve.go)
	defer sink.close()
	stderr = sink
	log, err := newLogger(f.logFormat, stderr)
	if err != nil {
		return cmd.usageError(stderr, "%v", err)
	}
	channel, _ := bridge.ParseChannel(f.channel)
	mode, _ := bridge.ParseListenMode(f.listenMode)

	// Before anything starts: a SIGHUP that arrives early must not kill the process.
	hups := watchHangups()
	defer hups.stop()
	stops := watchStops() // a second SIGINT or SIGTERM cuts the drain short
	defer stops.stop()

	opts := []bridge.Option{
		bridge.WithListeners(f.listen.values...), bridge.WithListenMode(mode), bridge.WithChannel(channel),
		bridge.WithWorkers(f.workers), bridge.WithStartTimeout(f.startTimeout),
		bridge.WithGracePeriods(f.stopGrace, f.stopGrace), bridge.WithDrainTimeout(f.drain),
		bridge.WithMaxLifetime(f.maxLifetime), bridge.WithMaxRSS(int64(f.maxRSS)),
		// Pool events: worker started, exited, restarted, crash-looping, recovered.
		bridge.WithLogger(log.With("component", "pool")),
	}
	opts = append(opts, iso...)
	if f.logFormat == "json" {
		opts = append(opts, bridge.WithLogFunc(func(l bridge.LogLine) {
			log.Info("worker "+l.Stream, "worker", l.Name, "pid", l.Pid, "line", l.Text)
		}))
	} else {
		opts = append(opts, bridge.WithStderr(stderr))
	}
	pool, err := bridge.NewPool(ctx, argv, opts...)
	if errors.Is(err, bridge.ErrInvalidOption) { // a -listen address, or an address kind the mode refuses
		return cmd.usageError(stderr, "%v", err)
	}
	if err != nil && ctx.Err() != nil {
		log.Info("stopped by a signal while the workers were starting")
		return exitOK
	}
	if err != nil {
		log.Error("the cluster could not start", "err", describe(err, 0))
		if errors.Is(err, bridge.ErrStartTimeout) && channel != bridge.ChannelNone {
			log.Error("a server that does not speak the polyfork protocol needs -channel none")
		}
		return exitFailure
	}
	for _, s := range pool.ListenSockets() {
		log.Info("listening", "address", s.Address, "socket", s.Name, "mode", f.listenMode, "workers", f.workers, "channel", f.channel, "command", argv)
	}

	adminDone := make(chan error, 1)
	var admin *http.Server
	if f.admin != "" {
		ln, err := net.Listen("tcp", f.admin)
		if err != nil {
			log.Error("cannot listen for -admin", "addr", f.admin, "err", err)
			pool.Kill()
			return exitFailure
		}
		mux := http.NewServeMux()
		handleClusterAdmin(mux, pool) // clusteradmin.go
		admin = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { adminDone <- admin.Serve(ln) }()
		log.Info("admin listening", "url", "http://"+ln.Addr().String(), "paths", "/healthz /workers /metrics")
	}

	code = exitOK
	if err := hups.reloadUntil(ctx, pool, log, adminDone); err != nil {
		log.Error("the admin server failed", "err", err)
		code = exitFailure
	}

	start := time.Now()
	log.Info("draining: the workers answer what they accepted, then exit", "timeout", f.drain)
	now, release := stops.hurry(ctx, log)
	defer release()
	drainCtx, cancel := context.WithTimeout(now, f.drain)
	defer cancel()
	if err := pool.Shutdown(drainCtx); err != nil {
		if now.Err() == nil {
			log.Error("the workers did not stop in time; they were killed", "err", describe(err, 0))
		}
		code = exitFailure
	}
	if admin != nil {
		_ = admin.Shutdown(drainCtx)
	}
	log.Info("drained", "took", time.Since(start), "exit_status", code)
	return code
}

// pids lists the pool's worker pids for a log record.
func pids(pool *bridge.Pool) []int {
	var out []int
	for _, w := range pool.Stats().Workers {
		out = append(out, w.Pid)
	}
	return out
}
