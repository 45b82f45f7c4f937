package bridge

import (
	"context"
	"fmt"
	"time"
)

// How a pool pipelines (see WithConcurrency): a busy worker's progress is the time between
// its answers. Its window grows by one call with each answer that came quickly, up to
// maxWindow, and halves when an answer came slowly: slowFactor times the worker's average
// gap, and at least slowFloor. A worker that has answered nothing for that long is
// stalled: it gets no new call until it answers, so that quick calls go to the other
// workers instead of waiting behind a slow one. A worker that runs calls concurrently keeps
// answering while one call is slow, so it is neither stalled nor shrunk.
const (
	maxWindow  = 64
	slowFactor = 8
	slowFloor  = 10 * time.Millisecond
)

// ticket is one call (or message) given to a worker: its place in the worker's queue of
// calls in flight, for the window and for the execution timeout.
type ticket struct {
	r          *running
	sentAt     time.Time
	startedAt  time.Time // when it became the worker's oldest call in flight: its time in the worker begins
	prev, next *ticket
	done       bool
}

// tickets is a worker's calls in flight, oldest first.
type tickets struct{ head, tail *ticket }

func (q *tickets) push(t *ticket) {
	t.prev, t.next = q.tail, nil
	if q.tail != nil {
		q.tail.next = t
	} else {
		q.head = t
	}
	q.tail = t
}

func (q *tickets) remove(t *ticket) {
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		q.head = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else {
		q.tail = t.prev
	}
	t.prev, t.next = nil, nil
}

// waiter is a call waiting in the queue for a worker.
type waiter struct {
	ch  chan acquired // buffered: one hand-over
	not *running      // a worker to avoid (the one a retried call failed on), or nil
}

type acquired struct {
	t   *ticket
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

// capacityLocked is how many calls r may have in flight now.
func (p *Pool) capacityLocked(r *running, now time.Time) int {
	if p.cfg.concurrency > 0 {
		return p.cfg.concurrency
	}
	if r.inflight > 0 && now.Sub(r.progress) > p.slowAfter(r) {
		return r.inflight // stalled: no new call until it answers
	}
	return int(r.window)
}

// slowAfter is how long a busy worker may go without answering before it counts as slow.
func (p *Pool) slowAfter(r *running) time.Duration {
	return max(slowFloor, slowFactor*r.gap)
}

// pickLocked returns the least busy ready worker with room, other than not if possible.
func (p *Pool) pickLocked(not *running) *running {
	var best *running
	now := p.clk.Now()
	for _, s := range p.slots {
		r := s.current
		if r == nil || r.retiring || r.inflight >= p.capacityLocked(r, now) {
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

// takeLocked gives r one more call.
func (p *Pool) takeLocked(r *running) *ticket {
	now := p.clk.Now()
	t := &ticket{r: r, sentAt: now}
	if r.queue.head == nil {
		r.progress, t.startedAt = now, now
	}
	r.queue.push(t)
	r.inflight++
	return t
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
		p.waiters.Remove(e)
		wt.ch <- acquired{t: p.takeLocked(r)}
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

// acquire reserves a place on a worker for one call, waiting in the queue if none has room.
func (p *Pool) acquire(ctx context.Context, not *running) (*ticket, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if r := p.pickLocked(not); r != nil {
		t := p.takeLocked(r)
		p.mu.Unlock()
		return t, nil
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
		return a.t, a.err
	case <-ctx.Done():
		p.mu.Lock()
		select {
		case a := <-wt.ch: // served at the last moment: give the place back
			p.mu.Unlock()
			if a.t != nil {
				p.release(a.t, false, false)
			}
		default:
			p.waiters.Remove(e)
			p.checkDrainedLocked()
			p.mu.Unlock()
		}
		return nil, fmt.Errorf("%w: no worker was free before the call's context ended: %w", ErrSaturated, ctx.Err())
	}
}

// release ends ticket t. job says it was a call that ran (it counts toward WithMaxJobs);
// answered says an answer came back, whose latency adapts the worker's window.
func (p *Pool) release(t *ticket, job, answered bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.done {
		return
	}
	t.done = true
	r := t.r
	now := p.clk.Now()
	if r.queue.head == t && t.next != nil {
		t.next.startedAt = now
	}
	r.queue.remove(t)
	r.inflight--
	r.lastUsed = now
	if job {
		r.jobs++
	}
	if answered {
		p.adaptLocked(r, now.Sub(r.progress))
		r.progress = now
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

// adaptLocked grows r's window by one after an answer that came quickly (gap: the time
// since r last made progress) and halves it after one that came slowly.
func (p *Pool) adaptLocked(r *running, gap time.Duration) {
	slow := r.gap > 0 && gap > p.slowAfter(r)
	if r.gap == 0 {
		r.gap = max(gap, time.Microsecond)
	} else {
		r.gap += (gap - r.gap) / 16
	}
	if slow {
		r.window = max(1, r.window/2)
	} else if r.window < maxWindow {
		r.window++
	}
}
