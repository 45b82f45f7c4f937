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
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/remote"
)

const serveAbout = `Run a supervised pool of COMMAND workers behind HTTP.

  POST /call/METHOD  The body is a JSON array of params (empty: no params). Answers:
                     200 the JSON result; 500 {"error": {"type", "message", "traceback"}}
                     when the method raised; 400 a bad method name (not UTF-8, empty,
                     starting with '$') or body (not one JSON array, nested deeper than
                     127 levels, more than -max-values values); 408 the body took longer
                     than -body-timeout; 413 the body is over -max-body; 502 the worker
                     died or broke the protocol; 503 saturated, crash-looping, draining,
                     no room for the body within -max-body-inflight, or no room for a
                     large result within -max-result-inflight; 504 the call ran
                     longer than -timeout. "Idempotency: true" lets a call whose worker
                     died be retried once on another worker.
  GET /healthz       200 when a worker is ready, else 503.
  GET /workers       The pool's stats as JSON.
  GET /metrics       Prometheus metrics.

What one request may cost is bounded: its headers (-max-header-bytes, 431 past it); its
body's size, depth and value count; the bytes of the bodies over 64 KiB held at once
(-max-body-inflight), from the first byte read until the answer: such a request finding
no room waits, up to -body-timeout, then gets 503 (smaller bodies never wait; -max-conns
bounds them; a chunked body counts as -max-body once past 64 KiB); and the bytes of the
results over 64 KiB held until their clients have read them (-max-result-inflight): such
a result finding no room is dropped and answered 503 at once, since waiting would hold
it. At most -max-conns connections are served: a client finding none free is accepted,
and the connection idle the longest (kept alive, or silent since it connected) is closed
to make room for it; when all are busy, it waits. The -*-timeout flags time the rest.
Other paths and methods get 404 or 405, in JSON.

On SIGTERM or SIGINT serve drains: it stops accepting, closes connections that have not
sent a request, answers 503 to requests whose body is still arriving, lets the calls it
has read finish (up to -drain), stops the workers with $stop, and exits 0. A second
SIGTERM or SIGINT during the drain stops now: the calls in flight fail, the workers are
killed, and serve exits 3. On SIGHUP it
replaces the workers one by one, as cluster does; calls in flight are answered.

Logs go to stderr: serve's events (listening, draining, drained), the workers' stderr,
and with -access-log one line per request; -log-format json makes them all JSON.

With -nats URL -service NAME, serve runs no worker: it fronts the agents of the service NAME
(polyfork agent, anywhere on the NATS network) with the same routes, limits and drain, and
GET /agents (their stats) instead of /workers. It adds 503 NoAgents (no agent serves NAME),
502 AgentLost (the agent went silent during the call) and 502 Disconnected (the NATS
connection dropped during the call); "Idempotency: true" lets such a call go to another
agent. The pool flags belong to polyfork agent then.

With -console DIR every worker gets a terminal, reachable while it serves through a Unix
socket DIR/NAME#i: "polyfork attach DIR i" connects yours to worker i, to answer a
breakpoint() in a handler (give -timeout 0, or the debugged call times out). DIR is made
mode 0700 (an existing one others can reach is refused), each socket is 0600, and on
Linux a connection from another user is refused.

examples:
  polyfork serve -addr 127.0.0.1:3000 -workers 4 -- python3 worker.py
  curl -d '[40, 2]' localhost:3000/call/add                 # 42
  polyfork serve -nats nats://127.0.0.1:4222 -service sum -addr 127.0.0.1:3000
`

// serveFlags are the options of polyfork serve.
type serveFlags struct {
	addr         string
	workers      int
	concurrency  int
	queue        int
	timeout      time.Duration
	maxJobs      int
	maxLifetime  time.Duration
	maxIdle      time.Duration
	maxRSS       byteSize
	startTimeout time.Duration
	drain        time.Duration

	maxBody         byteSize
	maxValues       int
	maxBodyInflight byteSize
	maxResInflight  byteSize
	maxConns        int
	maxHeaderBytes  byteSize
	headerTimeout   time.Duration
	bodyTimeout     time.Duration
	idleTimeout     time.Duration
	writeTimeout    time.Duration

	logFormat string
	accessLog bool
}

func (f *serveFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "addr", "127.0.0.1:3000", "address to listen on")
	fs.IntVar(&f.workers, "workers", runtime.NumCPU(), "number of workers")
	fs.IntVar(&f.concurrency, "concurrency", 0, "calls one worker takes at once; 0 (the default): a window that adapts, pipelining while answers come quickly")
	fs.IntVar(&f.queue, "queue", 1024, "calls that may wait for a free worker; past it: 503")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "longest a call may run; past it the worker is replaced and the answer is 504 (0: no limit)")
	fs.IntVar(&f.maxJobs, "max-jobs", 0, "recycle a worker after about this many calls (0: no limit)")
	fs.DurationVar(&f.maxLifetime, "max-lifetime", 0, "recycle a worker after about this long (0: no limit)")
	fs.DurationVar(&f.maxIdle, "max-idle", 0, "recycle a worker idle this long (0: no limit)")
	fs.Var(&f.maxRSS, "max-rss", "recycle a worker whose resident memory exceeds this, e.g. 512MiB (0: no limit)")
	fs.DurationVar(&f.startTimeout, "start-timeout", 10*time.Second, "longest a worker may take to become ready")
	fs.DurationVar(&f.drain, "drain", 30*time.Second, "on SIGTERM or SIGINT, how long the calls in flight may take to finish")

	f.maxBody = 8 << 20
	fs.Var(&f.maxBody, "max-body", "largest request body; past it: 413")
	fs.IntVar(&f.maxValues, "max-values", 1<<20, fmt.Sprintf("most values in one body, counting every array, object, key and scalar; past it: 400 (at most %d, the wire's limit)", requestMaxValues))
	f.maxBodyInflight = 64 << 20
	fs.Var(&f.maxBodyInflight, "max-body-inflight", "bytes of request bodies over 64KiB held at once, from reading to answer; a request finding no room waits, up to -body-timeout, then gets 503 (at least -max-body)")
	f.maxResInflight = 64 << 20
	fs.Var(&f.maxResInflight, "max-result-inflight", "bytes of results over 64KiB (as the worker sent them) held at once, from the call's end until the client has read the answer; a result finding no room is dropped and the answer is 503")
	fs.IntVar(&f.maxConns, "max-conns", 1024, "most HTTP connections open at once; a client past it closes the connection idle the longest, else waits in the listen backlog")
	// Go's default, 1 MiB, let -max-conns clients that send headers slowly hold about a GiB.
	f.maxHeaderBytes = 32 << 10
	fs.Var(&f.maxHeaderBytes, "max-header-bytes", "largest request line and headers of one request; past it: 431")
	fs.DurationVar(&f.headerTimeout, "read-header-timeout", 10*time.Second, "longest a client may take to send a request's headers")
	fs.DurationVar(&f.bodyTimeout, "body-timeout", 30*time.Second, "longest a request's body may take to arrive, waiting for room in -max-body-inflight included; past it: 408")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", 60*time.Second, "longest a kept-alive connection may stay idle")
	fs.DurationVar(&f.writeTimeout, "write-timeout", 30*time.Second, "longest a client may take to read an answer once it is ready")

	fs.StringVar(&f.logFormat, "log-format", "text", "log record format on stderr: text or json")
	fs.BoolVar(&f.accessLog, "access-log", false, "log one line per request: method, status, duration, bytes, worker pid when known")
}

// validate returns every problem with the flags, one per line; set tells which flags the
// user gave.
func (f *serveFlags) validate(set map[string]bool) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	// Checked before any worker starts: a bad address used to start the pool, fail the
	// listen, and kill the workers it had just started.
	if strings.HasPrefix(f.addr, "unix:") || strings.Contains(f.addr, "/") {
		bad("-addr %q: serve listens on TCP only: want host:port, such as 127.0.0.1:3000", f.addr)
	} else if _, port, err := net.SplitHostPort(f.addr); err != nil {
		bad("-addr %q: want host:port, such as 127.0.0.1:3000 (serve listens on TCP)", f.addr)
	} else if n, err := strconv.Atoi(port); err == nil && (n < 0 || n > 65535) {
		bad("-addr %q: port %d is out of range (0 to 65535)", f.addr, n)
	} else if _, err := net.LookupPort("tcp", port); err != nil {
		bad("-addr %q: %q is not a port (0 to 65535, or a service name such as http)", f.addr, port)
	}
	for _, d := range []struct {
		name     string
		v        time.Duration
		positive bool
	}{
		{"timeout", f.timeout, false}, {"max-lifetime", f.maxLifetime, false}, {"max-idle", f.maxIdle, false},
		{"start-timeout", f.startTimeout, true}, {"drain", f.drain, true},
		{"read-header-timeout", f.headerTimeout, true}, {"body-timeout", f.bodyTimeout, true},
		{"idle-timeout", f.idleTimeout, true}, {"write-timeout", f.writeTimeout, true},
	} {
		switch {
		case d.positive && d.v <= 0:
			bad("-%s must be positive, got %v", d.name, d.v)
		case d.v < 0:
			bad("-%s must not be negative, got %v", d.name, d.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int
		min  int
	}{{"workers", f.workers, 1}, {"concurrency", f.concurrency, 0}, {"queue", f.queue, 0}, {"max-jobs", f.maxJobs, 0}, {"max-conns", f.maxConns, 1}} {
		if n.v < n.min {
			bad("-%s must be at least %d, got %d", n.name, n.min, n.v)
		}
	}
	if f.maxBody <= 0 {
		bad("-max-body must be positive, got %d", f.maxBody)
	}
	if f.maxBodyInflight < f.maxBody {
		bad("-max-body-inflight (%s) must be at least -max-body (%s)", f.maxBodyInflight.String(), f.maxBody.String())
	}
	if f.maxHeaderBytes <= 0 || f.maxHeaderBytes > 1<<30 {
		bad("-max-header-bytes must be between 1 and 1GiB, got %d", f.maxHeaderBytes)
	}
	if f.maxResInflight <= 0 {
		bad("-max-result-inflight must be positive, got %d", f.maxResInflight)
	}
	if f.maxValues < 1 || f.maxValues > requestMaxValues {
		bad("-max-values must be between 1 and %d (the wire's limit less the message around the params), got %d", requestMaxValues, f.maxValues)
	}
	if f.logFormat != "text" && f.logFormat != "json" {
		bad("-log-format must be text or json, got %q", f.logFormat)
	}
	if room, ok := descriptorRoom(f.workers); ok && f.maxConns > room {
		if set["max-conns"] {
			bad("-max-conns %d does not fit in the descriptor limit (ulimit -n) with %d workers: at most %d", f.maxConns, f.workers, room)
		} else {
			f.maxConns = max(room, 1)
		}
	}
	return errs
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// serve's own log records and the workers' relayed lines go to stderr from many
	// goroutines, whole and in order, and never wait for whoever reads it (logging.go).
	sink := newLogSink(stderr)
	defer sink.close()
	stderr = sink
	cmd := newCommand("serve", "polyfork serve [flags] -- COMMAND [ARG...]\n  polyfork serve -nats URL -service NAME [flags]", serveAbout, serveExits)
	var f serveFlags
	f.define(cmd.flags)
	var nf natsFlags
	nf.add(cmd.flags)
	consoles := cmd.flags.String("console", "", "give each worker a terminal, reachable with polyfork attach through a socket per worker in this directory")
	var cf childFlags
	cf.register(cmd.flags)
	var code int
	positional, argv, ok := cmd.parse(args, stdout, stderr, &code)
	remoteMode := nf.url != ""
	switch {
	case !ok:
		return code
	case len(positional) != 0:
		return cmd.usageError(stderr, "unexpected argument %q before \"--\"", positional[0])
	case remoteMode && len(argv) != 0:
		return cmd.usageError(stderr, "with -nats, serve takes no command: the agents of -service run the workers")
	case !remoteMode && len(argv) == 0:
		return cmd.usageError(stderr, "want \"-- COMMAND [ARG...]\" (or -nats URL -service NAME)")
	}
	set := map[string]bool{}
	cmd.flags.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	errs := f.validate(set)
	if remoteMode {
		for _, name := range append(childFlagNames(cmd.flags), "console") {
			if set[name] {
				errs = append(errs, fmt.Sprintf("-%s concerns the workers' processes: with -nats, the agents run them", name))
			}
		}
		for _, name := range poolOnlyFlags {
			if set[name] {
				errs = append(errs, fmt.Sprintf("-%s concerns a local pool: with -nats, the agents run the workers (give it to polyfork agent)", name))
			}
		}
		if err := nf.check(true); err != nil {
			errs = append(errs, err.Error())
		}
	} else if nf.service != "" || nf.creds != "" || nf.nkey != "" || nf.tlsCA != "" || nf.tlsCert != "" {
		errs = append(errs, "-service, -creds, -nkey and -tls-* go with -nats")
	}
	if len(errs) > 0 {
		return cmd.usageError(stderr, "%s", strings.Join(errs, "\n  "))
	}
	log, err := newLogger(f.logFormat, stderr)
	if err != nil {
		return cmd.usageError(stderr, "%v", err)
	}

	// Before anything starts: SIGHUP (an operator's reflex from cluster, or a closed
	// terminal) reloads the workers instead of killing serve with calls in flight.
	hups := watchHangups()
	defer hups.stop()
	stops := watchStops() // a second SIGINT or SIGTERM cuts the drain short
	defer stops.stop()

	var b backend
	var local *bridge.Pool // nil with -nats: the workers are the agents'
	// failed delivers what ends serving: the HTTP server's error, or (with -nats) the
	// NATS connection closed for good.
	failed := make(chan error, 2)
	if remoteMode {
		nc, err := nf.connect("polyfork serve "+nf.service, stderr)
		if err != nil {
			log.Error("cannot reach NATS", "err", err)
			return exitFailure
		}
		defer nc.Close()
		// nats.go gives up, and closes the connection, when the server refuses the
		// credentials twice while reconnecting: serve then answered every call 503 for as
		// long as it ran, which a supervisor could not see. It stops instead, exit 3.
		nc.SetClosedHandler(func(c *nats.Conn) {
			select {
			case failed <- fmt.Errorf("the NATS connection closed for good: %v", c.LastError()):
			default:
			}
		})
		pool, err := remote.Dial(ctx, nc, nf.service)
		if err != nil {
			return cmd.usageError(stderr, "%v", err)
		}
		b = remoteBackend{nc: nc, pool: pool, timeout: f.timeout}
	} else {
		childOpts, err := cf.options(cmd.flags, *consoles != "")
		if err != nil {
			return cmd.usageError(stderr, "%v", err)
		}
		if *consoles != "" {
			if err := checkConsolePaths(*consoles, argv, f.workers); err != nil {
				return cmd.usageError(stderr, "%v", err)
			}
			dir, err := openConsoleDir(*consoles, func(format string, args ...any) {
				log.Warn(fmt.Sprintf(format, args...), "component", "console")
			})
			if err != nil {
				return cmd.usageError(stderr, "%v", err)
			}
			defer dir.Close()
			co := cf.consoleOptions()
			co.OnStart = dir.add
			childOpts = append(childOpts, bridge.WithConsole(co))
			log.Info("worker consoles", "dir", *consoles, "attach", "polyfork attach "+*consoles+" WORKER")
		}
		pool, err := newPool(ctx, &f, argv, log, stderr, childOpts...)
		if err != nil && ctx.Err() != nil {
			log.Info("stopped by a signal while the workers were starting")
			return exitOK
		}
		if err != nil {
			log.Error("the pool could not start", "err", describe(err, 0))
			if errors.Is(err, bridge.ErrInvalidOption) {
				return exitUsage
			}
			return exitFailure
		}
		b, local = localBackend{pool}, pool
	}
	tcp, err := net.Listen("tcp", f.addr)
	if err != nil {
		log.Error("cannot listen", "addr", f.addr, "err", err)
		stopNow(b)
		return exitFailure
	}
	conns := newConnTracker()
	ln := newLimitListener(tcp, f.maxConns, conns.evict)
	var access *slog.Logger
	if f.accessLog {
		access = log
	}
	gw := newGateway(b, gatewayLimits{
		maxBody:      int64(f.maxBody),
		params:       jsonLimits{maxDepth: paramsMaxDepth, depthWhy: paramsDepthWhy, maxValues: f.maxValues, valuesWhy: "the limit set by -max-values"},
		bodyTimeout:  f.bodyTimeout,
		writeTimeout: f.writeTimeout,
	}, newByteBudget(int64(f.maxBodyInflight)), newByteBudget(int64(f.maxResInflight)), conns, access)
	srv := &http.Server{
		Handler:           gw,
		ReadHeaderTimeout: f.headerTimeout,
		MaxHeaderBytes:    int(f.maxHeaderBytes),
		IdleTimeout:       f.idleTimeout,
		ConnState:         conns.connState,
		ConnContext:       conns.connContext,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// The calls' contexts come from base, which the drain ends (with a *cutError) when it
	// is cut short, so that those calls are answered 503 rather than have their
	// connections closed under them.
	base, cutCalls := context.WithCancelCause(context.Background())
	defer cutCalls(nil)
	srv.BaseContext = func(net.Listener) context.Context { return base }
	go func() { failed <- srv.Serve(ln) }()
	if remoteMode {
		log.Info("listening", "url", "http://"+tcp.Addr().String(), "service", nf.service, "nats", redact(nf.url),
			"max_conns", f.maxConns, "max_body", int64(f.maxBody))
	} else {
		log.Info("listening", "url", "http://"+tcp.Addr().String(), "workers", f.workers,
			"command", argv, "max_conns", f.maxConns, "max_body", int64(f.maxBody))
	}

	code = exitOK
	if err := hups.reloadUntil(ctx, local, log, failed); err != nil {
		log.Error("serving failed", "err", err)
		code = exitFailure
	}

	if !drain(ctx, log, srv, conns, b, f.drain, cutCalls, stops) {
		code = exitFailure
	}
	return code
}

// poolOnlyFlags are serve's flags that concern a local pool, refused with -nats.
var poolOnlyFlags = []string{"workers", "concurrency", "queue", "max-jobs", "max-lifetime", "max-idle", "max-rss", "start-timeout"}

// stopNow ends a backend at once (its start went wrong).
func stopNow(b backend) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = b.stop(ctx)
}

// answerCutWithin bounds the time the calls cut by the drain have to write their 503
// answers before their connections are closed.
const answerCutWithin = time.Second

// cutError is the cause of a call's context when serve's drain cut the call: its answer is
// 503 Stopping, not the 499 of a client that went away.
type cutError struct{ why string }

func (e *cutError) Error() string {
	return "polyfork serve stopped before the call ended: " + e.why
}

// stopWorkersWithin bounds stopping the workers once the calls are done: $stop, then the
// bridge's grace periods (2 s to exit, 2 s after SIGTERM) before SIGKILL.
const stopWorkersWithin = 10 * time.Second

// drain ends serve: it cuts what would only hold the drain up (connections that sent no
// request, bodies still arriving, requests waiting for room), lets the calls that were read
// finish within limit, then stops the workers with $stop. A second SIGINT or SIGTERM cuts
// it short (hurry). Calls still running when it is cut short, or past limit, are ended
// through cutCalls (the cause of their contexts) and answered 503 within answerCutWithin;
// the connections left after that are closed. It reports whether all of that went as
// planned.
func drain(ctx context.Context, log *slog.Logger, srv *http.Server, conns *connTracker, b backend, limit time.Duration, cutCalls context.CancelCauseFunc, stops *stopSignals) bool {
	start := time.Now()
	ok := true
	fresh, bodies := conns.drain()
	log.Info("draining", "timeout", limit, "closed_conns_without_request", fresh, "cut_bodies", bodies,
		"calls_queued", b.queued())
	now, release := stops.hurry(ctx, log)
	defer release()
	callsCtx, cancel := context.WithTimeout(now, limit)
	defer cancel()
	if err := srv.Shutdown(callsCtx); err != nil {
		why := "a second SIGTERM or SIGINT"
		if now.Err() == nil {
			why = fmt.Sprintf("it was still running when -drain (%v) ran out", limit)
			log.Error("calls still running after -drain; answering them 503 and closing their connections", "drain", limit, "err", err)
		}
		cutCalls(&cutError{why: why})
		answered, cancelAnswered := context.WithTimeout(context.Background(), answerCutWithin)
		if srv.Shutdown(answered) != nil {
			srv.Close() // a handler still writes (a slow client): its connection goes
		}
		cancelAnswered()
		ok = false
	}
	stopCtx, cancelStop := context.WithTimeout(now, stopWorkersWithin)
	defer cancelStop()
	if err := b.stop(stopCtx); err != nil {
		if now.Err() == nil {
			log.Error("the workers did not stop in time; they were killed", "err", describe(err, 0))
		}
		ok = false
	}
	status := exitOK
	if !ok {
		status = exitFailure
	}
	log.Info("drained", "took", time.Since(start), "exit_status", status)
	return ok
}

// syncWriter serializes writes to a writer shared by goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
