package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/polyfork/polyfork/bridge"
)

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
}

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, " ") }

func (l *listFlag) Set(s string) error {
	*l = append(*l, s)
	return nil
}

const clusterUsage = `usage: polyfork cluster -listen ADDR [-listen ADDR2 ...] [flags] -- COMMAND [ARG...]

Runs N workers of COMMAND that share the listening sockets polyfork binds once: the
seed's cluster for any language. Each worker finds them as descriptors 3, 4, ... with
LISTEN_FDS, LISTEN_PID (its own pid) and LISTEN_FDNAMES, as under systemd socket
activation: Node's server.listen({fd: 3}), uvicorn --fd 3, gunicorn, the polyfork
clients' listen helpers. The sockets stay open while workers restart, reload or crash:
connections wait in the kernel's queue, none is refused.

ADDR: [NAME=]HOST:PORT, tcp:HOST:PORT, tcp6:[HOST]:PORT, unix:PATH, fd:N (an inherited
listening socket), systemd or systemd:NAME (the sockets systemd passed polyfork).

Signals: SIGHUP replaces the workers one by one (each new one started before the old one
stops); SIGTERM or SIGINT drain: the workers are asked to stop (SIGTERM, or $stop with a
channel), finish what they accepted and exit, then polyfork exits 0.

Exit status: 0 after a drain, 2 for usage errors, 3 when the sockets cannot be bound or no
worker could start, or the drain did not finish in time.

Flags:
`

func runCluster(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("polyfork cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), clusterUsage)
		fs.PrintDefaults()
	}
	var f clusterFlags
	fs.Var(&f.listen, "listen", "an address to listen on (repeat for several sockets: descriptors 3, 4, ... in order)")
	fs.StringVar(&f.listenMode, "listen-mode", "shared", "shared: one socket, one accept queue for every worker; reuseport: one SO_REUSEPORT socket per worker, spread evenly by the kernel (Linux, TCP)")
	fs.IntVar(&f.workers, "workers", runtime.NumCPU(), "number of workers")
	fs.StringVar(&f.channel, "channel", "none", "none: the workers are plain servers (ready once started, stopped with SIGTERM); fd or stdio: they speak the polyfork protocol on that channel (ready at $ready, stopped with $stop)")
	fs.StringVar(&f.admin, "admin", "", "address of the admin HTTP server (GET /healthz, /workers, /metrics); none when empty")
	fs.DurationVar(&f.startTimeout, "start-timeout", 10*time.Second, "with a channel: longest a worker may take to send $ready")
	fs.DurationVar(&f.stopGrace, "stop-grace", 10*time.Second, "how long a worker asked to stop may take to finish what it accepted before it is killed")
	fs.DurationVar(&f.drain, "drain", 30*time.Second, "on SIGTERM or SIGINT, how long the whole drain may take")
	fs.DurationVar(&f.maxLifetime, "max-lifetime", 0, "replace a worker after about this long (0: never)")
	fs.Var(&f.maxRSS, "max-rss", "replace a worker whose resident memory exceeds this, e.g. 512MiB (0: no limit)")
	before, command, ok := splitCommand(args)
	if err := fs.Parse(before); err != nil {
		return exitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "polyfork cluster: "+format+"\n", a...)
		return exitUsage
	}
	channel, chOK := bridge.ParseChannel(f.channel)
	mode, modeOK := bridge.ParseListenMode(f.listenMode)
	switch {
	case !ok || fs.NArg() != 0:
		return fail("want [flags] -- COMMAND [ARG...]; see polyfork cluster -h")
	case len(f.listen) == 0:
		return fail("at least one -listen ADDR is needed, such as -listen 127.0.0.1:3000")
	case !chOK:
		return fail("-channel %q: want none, fd or stdio", f.channel)
	case !modeOK:
		return fail("-listen-mode %q: want shared or reuseport", f.listenMode)
	case f.drain <= 0 || f.stopGrace <= 0 || f.startTimeout <= 0:
		return fail("-drain, -stop-grace and -start-timeout must be positive")
	}

	// Before anything starts: a SIGHUP that arrives early must not kill the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	opts := []bridge.Option{
		bridge.WithListeners(f.listen...), bridge.WithListenMode(mode), bridge.WithChannel(channel),
		bridge.WithWorkers(f.workers), bridge.WithStartTimeout(f.startTimeout),
		bridge.WithGracePeriods(f.stopGrace, f.stopGrace), bridge.WithDrainTimeout(f.drain),
		bridge.WithMaxLifetime(f.maxLifetime), bridge.WithMaxRSS(int64(f.maxRSS)),
		bridge.WithStderr(stderr), bridge.WithLogger(logger),
	}
	pool, err := bridge.NewPool(ctx, command, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "polyfork cluster: %v\n", err)
		if errors.Is(err, bridge.ErrStartTimeout) && channel != bridge.ChannelNone {
			fmt.Fprintf(stderr, "polyfork cluster: (a server that does not speak the polyfork protocol needs -channel none)\n")
		}
		if errors.Is(err, bridge.ErrInvalidOption) {
			return exitUsage
		}
		return exitFailure
	}
	for _, s := range pool.ListenSockets() {
		fmt.Fprintf(stderr, "polyfork cluster: listening on %s (%s), %d workers of %q\n", s.Address, s.Name, f.workers, command)
	}

	adminDone := make(chan error, 1)
	var admin *http.Server
	if f.admin != "" {
		ln, err := net.Listen("tcp", f.admin)
		if err != nil {
			fmt.Fprintf(stderr, "polyfork cluster: admin server: %v\n", err)
			pool.Kill()
			return exitFailure
		}
		mux := http.NewServeMux()
		handlePoolViews(mux, pool) // poolhttp.go
		admin = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { adminDone <- admin.Serve(ln) }()
		fmt.Fprintf(stderr, "polyfork cluster: admin on http://%s (/healthz, /workers, /metrics)\n", ln.Addr())
	}

	reloaded := make(chan error, 1)
	reloading := false
	code := exitOK
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-adminDone:
			fmt.Fprintf(stderr, "polyfork cluster: admin server: %v\n", err)
			code = exitFailure
			break loop
		case <-hup:
			if reloading {
				fmt.Fprintf(stderr, "polyfork cluster: SIGHUP: a reload is already under way\n")
				continue
			}
			reloading = true
			fmt.Fprintf(stderr, "polyfork cluster: SIGHUP: replacing the workers one by one\n")
			go func() { reloaded <- pool.Reload(ctx) }()
		case err := <-reloaded:
			reloading = false
			if err != nil {
				fmt.Fprintf(stderr, "polyfork cluster: reload: %v\n", err)
			} else {
				fmt.Fprintf(stderr, "polyfork cluster: reload done: workers %s\n", pids(pool))
			}
		}
	}

	fmt.Fprintf(stderr, "polyfork cluster: draining (up to %v): the workers finish what they accepted\n", f.drain)
	drainCtx, cancel := context.WithTimeout(context.Background(), f.drain)
	defer cancel()
	if err := pool.Shutdown(drainCtx); err != nil {
		fmt.Fprintf(stderr, "polyfork cluster: %v\n", err)
		code = exitFailure
	}
	if admin != nil {
		_ = admin.Shutdown(drainCtx)
	}
	if code == exitOK {
		fmt.Fprintf(stderr, "polyfork cluster: drained, every worker stopped\n")
	}
	return code
}

// pids lists the pool's worker pids for a log line.
func pids(pool *bridge.Pool) string {
	var out []string
	for _, w := range pool.Stats().Workers {
		out = append(out, fmt.Sprint(w.Pid))
	}
	return strings.Join(out, " ")
}
