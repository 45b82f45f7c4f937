package main

import (
	"context"
	"log/slog"

	"github.com/polyfork/polyfork/bridge"
)

// reloader runs a pool's Reload on SIGHUP, one at a time, and logs how each went: cluster
// and serve reload the same way. Its methods run on the command's main loop, which selects
// on Done.
type reloader struct {
	ctx     context.Context
	pool    *bridge.Pool // nil: nothing to reload (serve -nats)
	log     *slog.Logger
	done    chan error
	running bool
}

func newReloader(ctx context.Context, pool *bridge.Pool, log *slog.Logger) *reloader {
	return &reloader{ctx: ctx, pool: pool, log: log, done: make(chan error, 1)}
}

// hangup starts a reload, unless one is under way.
func (r *reloader) hangup() {
	switch {
	case r.pool == nil:
		r.log.Info("SIGHUP: nothing to reload here; the workers are the agents'")
	case r.running:
		r.log.Warn("SIGHUP: a reload is already under way")
	default:
		r.running = true
		r.log.Info("SIGHUP: replacing the workers one by one")
		go func() { r.done <- r.pool.Reload(r.ctx) }()
	}
}

// Done receives a reload's outcome, to pass to finished.
func (r *reloader) Done() <-chan error { return r.done }

// finished logs a reload's outcome.
func (r *reloader) finished(err error) {
	r.running = false
	if err != nil {
		r.log.Error("reload failed; the workers not yet replaced keep running", "err", describe(err, 0))
		return
	}
	r.log.Info("reloaded", "pids", pids(r.pool))
}
