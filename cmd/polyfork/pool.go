package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/polyfork/polyfork/bridge"
)

// newPool starts the pool behind serve. Every option serve gives the bridge is set here.
//
// With -log-format json the workers' stderr lines become log records too, so that every
// line serve writes is JSON; with text they are relayed as they are ("name[pid] line").
func newPool(ctx context.Context, f *serveFlags, argv []string, log *slog.Logger, stderr io.Writer) (*bridge.Pool, error) {
	workerOpts := []bridge.Option{bridge.WithStartTimeout(f.startTimeout)}
	if f.logFormat == "json" {
		workerOpts = append(workerOpts, bridge.WithLogFunc(func(l bridge.LogLine) {
			log.Info("worker stderr", "worker", l.Name, "pid", l.Pid, "line", l.Text)
		}))
	} else {
		workerOpts = append(workerOpts, bridge.WithStderr(stderr))
	}
	opts := []bridge.PoolOption{
		bridge.Workers(f.workers), bridge.Concurrency(f.concurrency), bridge.QueueSize(f.queue),
		bridge.ExecTimeout(f.timeout), bridge.MaxJobs(f.maxJobs), bridge.MaxLifetime(f.maxLifetime),
		bridge.MaxIdle(f.maxIdle), bridge.MaxRSS(int64(f.maxRSS)),
		bridge.WorkerOptions(workerOpts...),
	}
	// POOL EVENTS GO HERE. When the bridge has WithLogger(*slog.Logger) (worker started,
	// exited, restarted, timed out, crash-looping, recovered), this one line turns them on:
	//
	//	opts = append(opts, bridge.WithLogger(log.With("component", "pool")))
	return bridge.NewPool(ctx, argv, opts...)
}
