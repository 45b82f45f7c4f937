package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// hurry returns a context that ends when SIGINT or SIGTERM comes again while a serving
// command drains: a second Ctrl-C, or a supervisor's second SIGTERM, means "stop now",
// as it does for most servers. The drain then stops waiting for the calls in flight (they
// fail) and kills the workers. The first signal was taken by main's NotifyContext, which
// ignores the ones after it; without this, they were lost and the drain ran its course
// (up to -drain, 30 s by default). release ends the watch.
func hurry(log *slog.Logger) (ctx context.Context, release func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-sig:
			log.Warn("a second signal during the drain: stopping now, the calls in flight fail and the workers are killed", "signal", s.String())
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(sig)
		cancel()
	}
}
