package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/polyfork/polyfork/bridge"
)

// hangups turns SIGHUP into reloads of a pool, one at a time, for cluster and serve. It
// watches from watchHangups on, before anything starts, so that an early SIGHUP does not
// kill the process (Go's default).
type hangups struct {
	sig chan os.Signal
}

func watchHangups() *hangups {
	h := &hangups{sig: make(chan os.Signal, 1)}
	signal.Notify(h.sig, syscall.SIGHUP)
	return h
}

// stop stops watching.
func (h *hangups) stop() { signal.Stop(h.sig) }

// reloadUntil replaces pool's workers one by one on each SIGHUP, logging how each reload
// went, until ctx ends (it returns nil) or failed delivers an error (returned). A SIGHUP
// during a reload asks for one more once it is done (several such SIGHUPs, one more):
// the workers the running reload started before the SIGHUP may run the code it was sent
// to replace. With pool nil (serve -nats) there is nothing to reload.
func (h *hangups) reloadUntil(ctx context.Context, pool *bridge.Pool, log *slog.Logger, failed <-chan error) error {
	done := make(chan error, 1)
	running, again := false, false
	start := func() {
		running = true
		go func() { done <- pool.Reload(ctx) }()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-failed:
			return err
		case <-h.sig:
			switch {
			case pool == nil:
				log.Info("SIGHUP: nothing to reload here; the workers are the agents'")
			case running:
				if !again {
					log.Info("SIGHUP: a reload is under way; the workers will be replaced again once it is done")
				}
				again = true
			default:
				log.Info("SIGHUP: replacing the workers one by one")
				start()
			}
		case err := <-done:
			running = false
			if err != nil {
				log.Error("reload failed; the workers not yet replaced keep running", "err", describe(err, 0))
			} else {
				log.Info("reloaded", "pids", pids(pool))
			}
			if again && ctx.Err() == nil {
				again = false
				log.Info("SIGHUP during the reload: replacing the workers one by one again")
				start()
			}
		}
	}
}
