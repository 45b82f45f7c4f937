package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/remote"
)

const agentAbout = `Run a pool of COMMAND workers and serve it on NATS as the service NAME: remote pools (Go:
remote.Dial), "polyfork call -nats" and "polyfork serve -nats" call its workers. Agents of
one NAME, on any number of machines, share the calls; an agent that has -max-in-flight
calls hands the next ones to the others. -embed-nats starts a NATS server in this process
(on 127.0.0.1:4222 when given alone: loopback unless told otherwise, such as
-embed-nats 0.0.0.0:4222), which other agents and callers join with -nats nats://ADDR.

SIGTERM or SIGINT: leave the service (new calls go to the other agents), let the calls in
flight finish (up to -drain), stop the workers; a second SIGTERM or SIGINT during the
drain stops now (the calls in flight are answered AgentStopped). SIGHUP replaces the workers one by one,
as serve and cluster do; calls in flight are answered. protocol/SPEC.md section 10 says
what travels on NATS.

example:
  polyfork agent -embed-nats -service sum -workers 4 -- python3 compute.py
  polyfork agent -nats nats://10.0.0.1:4222 -service sum -- python3 compute.py   # on another machine
`

// agentFlags are the options of polyfork agent.
type agentFlags struct {
	nats         natsFlags
	embed        string
	embedStore   string
	embedPayload byteSize
	workers      int
	concurrency  int
	maxInFlight  int
	timeout      time.Duration
	maxJobs      int
	maxLifetime  time.Duration
	maxIdle      time.Duration
	maxRSS       byteSize
	startTimeout time.Duration
	drain        time.Duration
	forward      string
	durable      bool
	durableCall  string
	ackWait      time.Duration
}

func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sink := newLogSink(stderr) // as serve's (serve.go)
	defer sink.close()
	stderr = sink
	cmd := newCommand("agent", "polyfork agent (-nats URL | -embed-nats [ADDR]) -service NAME [flags] -- COMMAND [ARG...]", agentAbout, agentExits)
	var f agentFlags
	fs := cmd.flags
	f.nats.add(fs)
	fs.StringVar(&f.embed, "embed-nats", "", "start a NATS server in this process, listening on ADDR, host:port (given alone: 127.0.0.1:4222)")
	fs.StringVar(&f.embedStore, "embed-store", "", "with -embed-nats: JetStream's directory (default: a temporary one, removed at exit)")
	fs.Var(&f.embedPayload, "embed-max-payload", "with -embed-nats: the largest NATS message, e.g. 8MiB (default 1MiB, NATS's; larger bodies go through JetStream)")
	fs.IntVar(&f.workers, "workers", runtime.NumCPU(), "number of workers")
	fs.IntVar(&f.concurrency, "concurrency", 0, "calls one worker takes at once; 0 (the default): a window that adapts")
	fs.IntVar(&f.maxInFlight, "max-in-flight", 0, "calls this agent takes at once, running or waiting for a worker; past it, calls go to other agents (default: 8 per worker)")
	fs.DurationVar(&f.timeout, "timeout", 0, "longest a call may run on a worker; past it the worker is replaced (0: only the caller's deadline)")
	fs.IntVar(&f.maxJobs, "max-jobs", 0, "recycle a worker after about this many calls (0: no limit)")
	fs.DurationVar(&f.maxLifetime, "max-lifetime", 0, "recycle a worker after about this long (0: no limit)")
	fs.DurationVar(&f.maxIdle, "max-idle", 0, "recycle a worker idle this long (0: no limit)")
	fs.Var(&f.maxRSS, "max-rss", "recycle a worker whose resident memory exceeds this, e.g. 512MiB (0: no limit)")
	fs.DurationVar(&f.startTimeout, "start-timeout", 10*time.Second, "longest a worker may take to become ready")
	fs.DurationVar(&f.drain, "drain", 30*time.Second, "on SIGTERM or SIGINT, how long the calls in flight may take to finish; those still running then fail with code 502, AgentStopped (an idempotent call goes to another agent)")
	fs.StringVar(&f.forward, "forward", "", "workers' notifications to publish to the callers besides messages, comma-separated")
	fs.BoolVar(&f.durable, "durable", false, "take the service's durable sends from its JetStream stream")
	fs.StringVar(&f.durableCall, "durable-method", "", "with -durable: deliver each durable message v as the call METHOD(v), acknowledged when it returns (default: as a message)")
	fs.DurationVar(&f.ackWait, "ack-wait", 30*time.Second, "with -durable: how long JetStream waits for an acknowledgement before it redelivers")

	var cf childFlags
	cf.register(fs)

	before, argv, _ := splitCommand(args)
	embedGiven := false
	before = embedDefault(before, &embedGiven)
	if slices.Contains(args, "--") {
		before = append(append(before, "--"), argv...)
	}
	var code int
	positional, argv, ok := cmd.parse(before, stdout, stderr, &code)
	if !ok {
		return code
	}
	var problems []string
	switch {
	case len(positional) != 0:
		problems = append(problems, fmt.Sprintf("unexpected argument %q before \"--\"", positional[0]))
	case len(argv) == 0:
		problems = append(problems, "want \"-- COMMAND [ARG...]\"")
	}
	switch {
	case f.nats.url == "" && !embedGiven:
		problems = append(problems, "a NATS server is needed: give -nats URL (one to join) or -embed-nats [ADDR] (start one here)")
	case f.nats.url != "" && embedGiven:
		problems = append(problems, "give -nats URL (a NATS server to join) or -embed-nats [ADDR] (start one here), not both")
	}
	if err := f.nats.check(true); err != nil {
		problems = append(problems, err.Error())
	}
	if f.workers < 1 || f.concurrency < 0 || f.maxInFlight < 0 {
		problems = append(problems, "-workers must be at least 1; -concurrency and -max-in-flight must not be negative")
	}
	if f.timeout < 0 || f.drain <= 0 || f.startTimeout <= 0 || f.ackWait <= 0 {
		problems = append(problems, "-timeout must not be negative; -drain, -start-timeout and -ack-wait must be positive")
	}
	if f.durableCall != "" && !f.durable {
		problems = append(problems, "-durable-method needs -durable")
	}
	childOpts, err := cf.options(fs, false)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return cmd.usageError(stderr, "%s", strings.Join(problems, "\n  "))
	}
	if f.maxInFlight == 0 {
		f.maxInFlight = 8 * f.workers
		if f.concurrency > 0 {
			f.maxInFlight = 2 * f.workers * f.concurrency
		}
	}

	// Before anything starts: SIGHUP (the reflex of an operator of serve and cluster, a
	// closed terminal) replaces the workers, as there, instead of killing the agent with
	// its calls in flight, and with -embed-nats the NATS server of every other agent.
	hups := watchHangups()
	defer hups.stop()
	stops := watchStops() // a second SIGINT or SIGTERM cuts the drain short
	defer stops.stop()

	if embedGiven {
		srv, err := remote.RunServer(remote.ServerConfig{Addr: f.embed, StoreDir: f.embedStore, MaxPayload: int32(f.embedPayload)})
		if err != nil {
			fmt.Fprintf(stderr, "polyfork agent: %v\n", err)
			return exitFailure
		}
		defer srv.Shutdown()
		f.nats.url = srv.ClientURL()
		fmt.Fprintf(stderr, "polyfork agent: NATS server listening on %s%s\n", srv.ClientURL(), loopbackNote(srv.Addr()))
	}
	nc, err := f.nats.connect("polyfork agent "+f.nats.service, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "polyfork agent: %v\n", err)
		return exitFailure
	}
	defer nc.Close()
	// nats.go gives up reconnecting, and closes the connection, when the server refuses
	// the credentials twice (rotated or revoked while the agent ran): the agent then
	// served nothing, silently, for as long as it ran. It stops instead, with the reason.
	gone := make(chan error, 1)
	nc.SetClosedHandler(func(c *nats.Conn) {
		gone <- fmt.Errorf("the NATS connection closed for good: %v", c.LastError())
	})

	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// The pool's queue holds every call the agent takes (-max-in-flight) and, with
	// -durable-method, every durable message it takes besides (as many again): sized for the
	// calls alone, durable messages filled it, and calls the agent had taken were answered
	// "pool saturated" instead of being queued.
	queue := f.maxInFlight
	if f.durableCall != "" {
		queue *= 2
	}
	poolOpts := []bridge.Option{
		bridge.WithWorkers(f.workers), bridge.WithQueueSize(queue),
		bridge.WithExecTimeout(f.timeout), bridge.WithMaxJobs(f.maxJobs), bridge.WithMaxLifetime(f.maxLifetime),
		bridge.WithMaxIdle(f.maxIdle), bridge.WithMaxRSS(int64(f.maxRSS)), bridge.WithStartTimeout(f.startTimeout),
		bridge.WithStderr(stderr), bridge.WithLogger(logger.With("component", "pool")),
	}
	poolOpts = append(poolOpts, childOpts...)
	if f.concurrency > 0 {
		poolOpts = append(poolOpts, bridge.WithConcurrency(f.concurrency))
	}
	opts := []remote.AgentOption{
		remote.AgentPool(poolOpts...),
		remote.AgentMaxInFlight(f.maxInFlight),
		remote.AgentLogger(logger),
	}
	if f.forward != "" {
		opts = append(opts, remote.AgentForward(strings.Split(f.forward, ",")...))
	}
	if f.durable {
		opts = append(opts, remote.AgentDurable(f.durableCall, f.ackWait))
	}
	agent, err := remote.NewAgent(ctx, nc, f.nats.service, argv, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "polyfork agent: %s\n", describe(err, 0))
		if errors.Is(err, bridge.ErrInvalidOption) {
			return exitUsage
		}
		return exitFailure
	}
	fmt.Fprintf(stderr, "polyfork agent: serving %q on %s as agent %s (%s) with %d workers of %q\n",
		f.nats.service, redact(nc.ConnectedUrl()), agent.ID(), agent.Host(), f.workers, argv)

	if err := hups.reloadUntil(ctx, agent.Pool(), logger, gone); err != nil {
		fmt.Fprintf(stderr, "polyfork agent: %v; stopping (its calls in flight cannot be answered)\n", err)
		agent.Kill()
		return exitFailure
	}
	fmt.Fprintf(stderr, "polyfork agent: draining (up to %v)\n", f.drain)
	now, release := stops.hurry(ctx, logger)
	defer release()
	drainCtx, cancel := context.WithTimeout(now, f.drain)
	defer cancel()
	if err := agent.Shutdown(drainCtx); err != nil {
		fmt.Fprintf(stderr, "polyfork agent: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// embedDefault lets -embed-nats be given without a value: "-embed-nats" followed by a flag
// or nothing means the default address. It reports in given whether the flag was there.
func embedDefault(args []string, given *bool) []string {
	out := make([]string, 0, len(args)+1)
	for i, a := range args {
		trimmed := strings.TrimLeft(a, "-")
		name, value, hasValue := strings.Cut(trimmed, "=")
		if len(trimmed) == len(a) || name != "embed-nats" {
			out = append(out, a)
			continue
		}
		*given = true
		switch {
		case hasValue && value != "":
			out = append(out, a)
		case hasValue, i+1 == len(args), strings.HasPrefix(args[i+1], "-"):
			out = append(out, "-embed-nats=127.0.0.1:4222")
		default:
			out = append(out, a)
		}
	}
	return out
}

// loopbackNote says how to reach an embedded server from other machines.
func loopbackNote(addr net.Addr) string {
	if ta, ok := addr.(*net.TCPAddr); ok && ta.IP.IsLoopback() {
		return fmt.Sprintf(" (loopback only; for other machines: -embed-nats 0.0.0.0:%d)", ta.Port)
	}
	return ""
}
