package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/polyfork/polyfork/protocol"
)

// errExecTimeout is the cause of a call context ended by WithExecTimeout.
var errExecTimeout = errors.New("execution timeout")

// callOn runs one call on t's worker, bounded by the execution timeout: past it the worker
// is ended and replaced, and the call fails with ErrExecTimeout. The timeout counts from
// when the call became the worker's oldest call in flight, not from when it was sent: time
// spent waiting behind other calls in the worker's input is not the call's (for a worker
// that runs calls concurrently, this makes the bound more lenient, never stricter). Which
// call is the oldest follows the order in which the worker reads them (see writtenBefore).
//
// It reports abandoned when ctx ended after the call was sent: the worker may still be
// running it, so t keeps its place on the worker until the worker answers it or ends
// (ticket.settled releases it), and the execution timeout still bounds it then.
func (p *Pool) callOn(ctx context.Context, t *ticket, method string, params, result any) (abandoned bool, err error) {
	r := t.r
	call := func(ctx context.Context) (bool, error) {
		if wc, ok := r.w.(watchedCaller); ok {
			return wc.callWatched(ctx, method, params, result, t)
		}
		return false, r.w.Call(ctx, method, params, result)
	}
	d := p.cfg.execTimeout
	if d <= 0 {
		return call(ctx)
	}
	cctx, cancel := context.WithCancelCause(ctx)
	var arm func(after time.Duration)
	var mu sync.Mutex
	var timer stopper
	returned := false // call returned: past the timeout the pool ends the worker itself
	arm = func(after time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		timer = p.clk.AfterFunc(after, func() {
			p.mu.Lock()
			wait, done := p.execTimeLeftLocked(t, d)
			p.mu.Unlock()
			switch {
			case done:
			case wait > 0:
				arm(wait)
			default:
				mu.Lock()
				gone := returned
				if !gone {
					cancel(errExecTimeout)
				}
				mu.Unlock()
				if gone { // its caller gave up on it, and the worker still runs it
					p.endForTimeout(r, method, d, "its caller had given up on it")
				}
			}
		})
	}
	arm(d)
	abandoned, err = call(cctx)
	mu.Lock()
	returned = true
	if !abandoned {
		timer.Stop()
	}
	mu.Unlock()
	timedOut := context.Cause(cctx) == errExecTimeout && ctx.Err() == nil
	cancel(nil)
	if !timedOut || err == nil {
		return abandoned, err
	}
	p.endForTimeout(r, method, d, "")
	return abandoned, fmt.Errorf("%w: %s ran longer than %v on worker %s, which was ended: %w",
		ErrExecTimeout, protocol.QuoteName(method), d, r.w.Name(), context.DeadlineExceeded)
}

// execTimeLeftLocked returns how long t may still run on its worker before it passes the
// execution timeout d (0: it has), or done if it is over. A call still waiting behind other
// calls in the worker's input has d left; so has one found, when due, to have been written
// after a call still in flight (see writtenBefore): that call is the worker's oldest, and its
// time counts from when t's was thought to start.
func (p *Pool) execTimeLeftLocked(t *ticket, d time.Duration) (left time.Duration, done bool) {
	if t.done {
		return 0, true
	}
	if t.startedAt == 0 { // still waiting behind other calls
		return d, false
	}
	if ran := p.clk.Tick() - t.startedAt; ran < d {
		return d - ran, false
	}
	for x := t.r.queue.head; x != nil; x = x.next {
		if x != t && writtenBefore(x, t) {
			if x.startedAt == 0 {
				x.startedAt = t.startedAt
			}
			t.startedAt = 0 // until x is answered (release)
			return d, false
		}
	}
	return 0, false
}

// endForTimeout ends worker r, on which a call of method ran longer than the execution
// timeout d; note, if not empty, is added to the log.
func (p *Pool) endForTimeout(r *running, method string, d time.Duration, note string) {
	args := []any{"method", method, "worker", r.slot.index, "pid", r.w.Pid(), "timeout", d}
	if note != "" {
		args = append(args, "note", note)
	}
	p.log(slog.LevelWarn, "call exceeded the execution timeout; ending its worker", args...)
	p.mu.Lock()
	r.ended = fmt.Sprintf("call %s on it exceeded the execution timeout of %v", protocol.QuoteName(method), d)
	p.recycleLocked(r, "execution timeout")
	p.mu.Unlock()
	r.w.Terminate()
}

// sample reads the workers' resident memory for Stats and applies the limits that need
// watching: resident memory, idle time and lifetime.
func (p *Pool) sample() {
	defer p.wg.Done()
	for {
		c, t := p.clk.NewTimer(p.cfg.sampleEvery)
		select {
		case <-p.ctx.Done():
			t.Stop()
			return
		case <-c:
		}
		p.checkLimits()
	}
}

// checkLimits recycles the workers past a limit.
func (p *Pool) checkLimits() {
	var rs []*running
	p.mu.Lock()
	for _, s := range p.slots {
		if s.current != nil {
			rs = append(rs, s.current)
		}
	}
	p.mu.Unlock()
	for _, r := range rs {
		var rss int64 = -1
		if n, err := r.w.RSS(); err == nil {
			rss = n
		}
		now, tick := p.clk.Now(), p.clk.Tick()
		p.mu.Lock()
		if rss >= 0 {
			r.rss = rss
		}
		switch {
		case r.retiring:
		case p.cfg.maxRSS > 0 && r.rss > p.cfg.maxRSS:
			p.recycleLocked(r, fmt.Sprintf("resident memory %d bytes over the limit %d", r.rss, p.cfg.maxRSS))
		case p.cfg.maxIdle > 0 && r.inflight == 0 && tick-r.lastUsed >= p.cfg.maxIdle:
			p.recycleLocked(r, "idle")
		case r.lifetime > 0 && now.Sub(r.started) >= r.lifetime:
			p.recycleLocked(r, "lifetime")
		}
		p.mu.Unlock()
	}
}

// retireLocked stops giving calls to r and stops it once its calls in flight have
// finished.
func (p *Pool) retireLocked(r *running) {
	if r.retiring {
		return
	}
	r.retiring = true
	if r.slot.current == r {
		r.slot.current = nil
	}
	p.retiring[r] = struct{}{}
	if r.owed() == 0 {
		go p.stopRunning(r)
	}
	p.forgetWhenDone(r, func() { p.checkListening(r) })
}

// forgetWhenDone takes r off the retiring list once it is done (Close and Kill wait for
// that), then runs then, on a goroutine of its own.
func (p *Pool) forgetWhenDone(r *running, then func()) {
	go func() {
		<-r.w.Done()
		p.mu.Lock()
		delete(p.retiring, r)
		p.checkDrainedLocked()
		p.mu.Unlock()
		then()
	}()
}

// recycleLocked takes r out of rotation at once, for a limit: it finishes its calls in
// flight and stops, while its slot starts a replacement.
func (p *Pool) recycleLocked(r *running, why string) {
	if r.retiring || p.closed {
		return
	}
	p.log(slog.LevelInfo, "recycling worker", "worker", r.slot.index, "pid", r.w.Pid(), "why", why)
	p.retireLocked(r)
	select {
	case r.slot.kick <- r:
	default:
	}
}
