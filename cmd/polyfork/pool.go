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
	opts := append([]bridge.Option{
		bridge.WithWorkers(f.workers), bridge.WithQueueSize(f.queue),
		bridge.WithExecTimeout(f.timeout), bridge.WithMaxJobs(f.maxJobs), bridge.WithMaxLifetime(f.maxLifetime),
		bridge.WithMaxIdle(f.maxIdle), bridge.WithMaxRSS(int64(f.maxRSS)),
		// Pool events: worker started, exited, restarted, timed out, crash-looping, recovered.
		bridge.WithLogger(log.With("component", "pool")),
	}, workerOpts...)
	if f.concurrency > 0 {
		opts = append(opts, bridge.WithConcurrency(f.concurrency))
	}
	return bridge.NewPool(ctx, argv, opts...)
}
