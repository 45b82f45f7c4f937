package bridge

import (
	"context"
	"fmt"
)

// waiter is a call waiting in the queue for a worker.
type waiter struct {
	ch  chan acquired // buffered: one hand-over
	not *running      // a worker to avoid (the one a retried call failed on), or nil
}

type acquired struct {
	r   *running
	err error
}

// anyReadyLocked reports whether some worker can take calls.
func (p *Pool) anyReadyLocked() bool {
	for _, s := range p.slots {
		if s.current != nil {
			return true
		}
	}
	return false
}

// pickLocked returns the least busy ready worker with a free place, other than not if
// possible.
func (p *Pool) pickLocked(not *running) *running {
	var best *running
	for _, s := range p.slots {
		r := s.current
		if r == nil || r.retiring || r.inflight >= p.cfg.concurrency {
			continue
		}
		select {
		case <-r.w.Exited():
			continue
		default:
		}
		if best == nil || (best == not && r != not) || (r != not && r.inflight < best.inflight) {
			best = r
		}
	}
	return best
}

// dispatchLocked hands free workers to waiting calls, oldest first.
func (p *Pool) dispatchLocked() {
	for e := p.waiters.Front(); e != nil; {
		next := e.Next()
		wt := e.Value.(*waiter)
		r := p.pickLocked(wt.not)
		if r == nil {
			return
		}
		r.inflight++
		p.waiters.Remove(e)
		wt.ch <- acquired{r: r}
		e = next
	}
}

func (p *Pool) failWaitersLocked(err error) {
	if err == nil {
		return
	}
	for e := p.waiters.Front(); e != nil; e = p.waiters.Front() {
		p.waiters.Remove(e)
		e.Value.(*waiter).ch <- acquired{err: err}
	}
}

// acquire reserves a worker for one call, waiting in the queue if all are busy.
func (p *Pool) acquire(ctx context.Context, not *running) (*running, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if r := p.pickLocked(not); r != nil {
		r.inflight++
		p.mu.Unlock()
		return r, nil
	}
	if !p.anyReadyLocked() {
		if err := p.unavailableLocked(); err != nil {
			p.mu.Unlock()
			return nil, err
		}
	}
	if p.waiters.Len() >= p.cfg.queue {
		n := p.waiters.Len()
		p.mu.Unlock()
		return nil, fmt.Errorf("%w: all %d workers are busy and %d calls are queued (WithQueueSize)", ErrSaturated, len(p.slots), n)
	}
	wt := &waiter{ch: make(chan acquired, 1), not: not}
	e := p.waiters.PushBack(wt)
	p.mu.Unlock()

	select {
	case a := <-wt.ch:
		return a.r, a.err
	case <-ctx.Done():
		p.mu.Lock()
		select {
		case a := <-wt.ch: // served at the last moment: give the worker back
			p.mu.Unlock()
			if a.r != nil {
				p.release(a.r, false)
			}
		default:
			p.waiters.Remove(e)
			p.checkDrainedLocked()
			p.mu.Unlock()
		}
		return nil, fmt.Errorf("%w: no worker was free before the call's context ended: %w", ErrSaturated, ctx.Err())
	}
}

// release returns a worker after a call (job: it counts toward WithMaxJobs) and applies
// the job limit.
func (p *Pool) release(r *running, job bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r.inflight--
	r.lastUsed = p.clk.Now()
	if job {
		r.jobs++
	}
	if r.retiring {
		if r.inflight == 0 {
			go r.w.Shutdown(context.Background())
		}
		p.checkDrainedLocked()
		return
	}
	if r.maxJobs > 0 && r.jobs >= int64(r.maxJobs) {
		p.recycleLocked(r, "max jobs")
	}
	p.dispatchLocked()
	p.checkDrainedLocked()
}
