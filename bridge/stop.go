package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"syscall"
	"time"

	"github.com/polyfork/polyfork/protocol"
)

// Close stops the child gracefully and waits until it is gone, as Shutdown does, bounded by
// the two grace periods (WithGracePeriods): what the child sent that the host's handlers
// have not handled once both have passed since Close began is dropped (and logged), and a
// notification (OnMessage) handler still running then is not waited for; it runs on. So
// Close returns within the grace periods plus the time to reap the child and read the rest
// of its stderr (at most a second), even when a handler is slow or stuck, or is the
// listener that called Close. It returns nil if the child exited with status 0, else the
// error that describes how it ended (the same as Wait). It is safe to call more than once,
// and concurrently.
func (p *Process) Close() error {
	if p.zero() {
		return errZeroProcess
	}
	return p.closeWithin(context.Background())
}

// closeWithin is Close, ended sooner by ctx as Shutdown is. A Pool stops its workers so,
// so that neither a retirement nor a drain waits for slow or stuck handlers past the
// grace periods, and a drain's own end still SIGKILLs.
func (p *Process) closeWithin(ctx context.Context) error {
	t := time.NewTimer(p.cfg.graces())
	defer t.Stop()
	return p.shutdown(ctx, t.C)
}

// Shutdown stops the child gracefully and waits until it is gone. It sends $stop, so the
// child finishes the work in flight and exits; it closes the child's stdin (end of file,
// which a child must also take as $stop) as soon as no call to the child is unanswered and
// no call from the child is being handled; if the child is still running after the first
// grace period (WithGracePeriods), it sends SIGTERM to the child's process group, and after
// the second, SIGKILL. If ctx ends first, SIGKILL at once. Calls made after Shutdown began
// fail with ErrClosed; calls in flight get their answers if the child gives them in time,
// else its exit (*ExitError).
//
// What the child sent before it exited (messages, notifications, calls to the host) is
// handled by the host's handlers, however long that takes, until ctx ends: then what is
// left is dropped (and logged), and a notification (OnMessage) handler still running is
// not waited for; it runs on. So ctx bounds Shutdown (plus the time to reap the child and
// read the rest of its stderr, at most a second), even when a handler is slow or never
// returns; without an end of its own, Close bounds it by the grace periods instead.
//
// A child without a channel (ChannelNone) is asked with SIGTERM instead of $stop, and gets
// SIGKILL after the first grace period.
//
// It returns nil if the child exited with status 0, else the error that describes how it
// ended (the same as Wait), or ctx's error if ctx ended first. It is safe to call more than
// once, and concurrently.
func (p *Process) Shutdown(ctx context.Context) error {
	if ctx == nil {
		return errNilContext
	}
	return p.shutdown(ctx, nil)
}

// shutdown is Shutdown; when limit fires (Close), the handling of what the child sent is
// given up as when ctx ends, but the child is left to the stop sequence, which has
// SIGKILLed it by then.
func (p *Process) shutdown(ctx context.Context, limit <-chan time.Time) error {
	if p.zero() {
		return errZeroProcess
	}
	p.markClosing()
	p.stopOnce.Do(func() { go p.stop() })
	select {
	case <-p.done:
		return p.err
	case <-limit:
		p.cutBacklog()
		<-p.done
		return p.err
	case <-ctx.Done():
		p.signal(syscall.SIGKILL)
		p.cutBacklog()
		<-p.done
		return fmt.Errorf("bridge: shutting down %s (pid %d): %w", p.name, p.pid, ctx.Err())
	}
}

// stop asks the child to finish, then forces it; see Shutdown.
func (p *Process) stop() {
	defer close(p.stopDone)
	if !p.hasChannel() {
		p.stopWithoutChannel()
		return
	}
	deadline := time.Now().Add(p.cfg.stopGrace)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := p.conn.sendNotification(ctx, protocol.MethodStop, nil); err != nil {
		p.log(slog.LevelDebug, "could not send $stop", "err", err)
	}
	select {
	case <-p.exited:
		return
	case <-p.conn.quiet():
		// What was sent ($stop, messages, answers to the child's calls) reaches the pipe
		// before its end, within the grace period.
		_ = p.conn.Flush(ctx)
		p.closeInput()
	case <-ctx.Done():
	}
	select {
	case <-p.exited:
		return
	case <-ctx.Done():
	}
	p.closeInput()
	p.log(slog.LevelWarn, "child did not exit after $stop; sending SIGTERM", "grace", p.cfg.stopGrace)
	p.signal(syscall.SIGTERM)
	if !p.waitExit(p.cfg.killGrace) {
		p.log(slog.LevelWarn, "child did not exit after SIGTERM; sending SIGKILL", "grace", p.cfg.killGrace)
		p.signal(syscall.SIGKILL)
	}
}

// closeInput closes the child's channel input: end of file, which means $stop.
func (p *Process) closeInput() { p.conn.closeOutput() }

// markClosing makes later calls fail with ErrClosed and a clean exit count as expected.
func (p *Process) markClosing() {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
}

// Terminate ends the child without asking: SIGTERM to its process group now, SIGKILL after
// the second grace period (WithGracePeriods) if it is still running. It does not wait;
// use Wait or Done, which, as after any exit, come once the host's handlers have handled
// what the child sent (Kill drops that instead). A Pool uses it for a call past its
// execution timeout.
func (p *Process) Terminate() {
	if p.zero() {
		return
	}
	p.markClosing()
	p.signal(syscall.SIGTERM)
	go func() {
		if !p.waitExit(p.cfg.killGrace) {
			p.signal(syscall.SIGKILL)
		}
	}()
}

// Kill sends SIGKILL to the child's process group at once, without waiting; use Wait or
// Done to learn when everything is released, which is as soon as the child is reaped and
// the rest of its stderr read (at most a second). What the child sent that the host's
// handlers have not handled yet (messages, notifications, calls to the host waiting for a
// handler) is dropped, and logged; handlers running then are not waited for (they run on;
// a request handler's context is cancelled). It returns nil.
func (p *Process) Kill() error {
	if p.zero() {
		return errZeroProcess
	}
	p.markClosing()
	p.cutBacklog()
	p.signal(syscall.SIGKILL)
	return nil
}

// Signal sends sig to the child's process group (on Windows, any signal kills the child).
// It does not change how later calls behave.
func (p *Process) Signal(sig syscall.Signal) { p.signal(sig) }
