package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// stopSignals watches SIGINT and SIGTERM for a serving command, from its start: a second
// Ctrl-C, or a supervisor's second SIGTERM, during the drain means "stop now", as it does
// for most servers (hurry). The first signal is also taken by main's NotifyContext, which
// ends run's context (the drain begins) and ignores the ones after it. Armed only once the
// drain had begun, the watch lost a second signal sent in between (as soon as "draining"
// was logged, say), and the drain ran its course (up to -drain, 30 s by default).
type stopSignals struct {
	sig chan os.Signal
}

// watchStops starts watching; stop ends the watch.
func watchStops() *stopSignals {
	s := &stopSignals{sig: make(chan os.Signal, 2)} // the first signal and the second
	signal.Notify(s.sig, os.Interrupt, syscall.SIGTERM)
	return s
}

func (s *stopSignals) stop() { signal.Stop(s.sig) }

// hurry is called when the drain begins, ctx being the command's context. It returns a
// context that ends when a signal comes that is not the one that ended ctx: the drain then
// stops waiting for the calls in flight (they fail) and kills the workers. A ctx ended by
// a signal has the signal as its cause (main's NotifyContext); one cancelled otherwise (a
// test running a command in-process) has no cause but its error, and neither has a drain
// that began for another reason (ctx still running): then the first signal hurries it.
// release ends the watch.
func (s *stopSignals) hurry(ctx context.Context, log *slog.Logger) (now context.Context, release func()) {
	now, cancel := context.WithCancel(context.Background())
	ignore := ctx.Err() != nil && context.Cause(ctx) != ctx.Err() // the signal that began the drain
	go func() {
		for {
			select {
			case sig := <-s.sig:
				if ignore {
					ignore = false
					continue
				}
				log.Warn("a second signal during the drain: stopping now, the calls in flight fail and the workers are killed", "signal", sig.String())
				cancel()
				return
			case <-now.Done():
				return
			}
		}
	}()
	return now, cancel
}
