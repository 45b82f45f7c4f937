package bridge

import (
	"container/list"
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// How a pool pipelines (see WithConcurrency): a busy worker's progress is the time between
// its answers. Its window grows by one call with each answer that came quickly, up to
// maxWindow, and halves when an answer came slowly (slowFactor times the worker's average
// gap, and at least slowFloor) while other calls waited behind it. A worker that has
// answered nothing for that long is stalled: it gets no new call until it answers, so that
// quick calls go to the other workers instead of waiting behind a slow one. A worker that
// runs calls concurrently keeps answering while one call is slow, so it is neither stalled
// nor shrunk.
//
// Stalling stops new calls, but the calls already in a stalled worker's input wait for the
// slow one. So methods whose answers came slowly lately (see slowness) are expected to be
// slow again: a worker given such a call takes no other call until it answers, so nothing
// queues behind it in its input; quick calls go to the other workers, or wait in the
// pool's queue, where whichever worker frees up first takes them, before the slow calls
// waiting there (for a while: see dispatchLocked). Only the first slow calls of a method
// (before any has answered) can still catch the calls sent after them.
//
// Slow is relative to the worker's own pace, so in a pool whose every call is long, or
// whose workers run calls concurrently and keep answering, nothing is slow.
const (
	maxWindow  = 64
	slowFactor = 8
	slowFloor  = 10 * time.Millisecond
	// maxYield: the longest a call expected to be slow lets quick ones go first.
	maxYield = 2 * time.Second
)

// ticket is one call (or message) given to a worker: its place in the worker's queue of
// calls in flight, for the window and for the execution timeout.
type ticket struct {
	r           *running
	method      string        // "" for a message or notification
	slow        bool          // method was expected to be slow: r takes nothing else until it answers
	seq         int64         // r.sent when it was given: calls with a larger seq were sent after it
	startedAt   time.Duration // (clock.Tick) when it became the worker's oldest call in flight, or 0
	overtakenAt time.Duration // (clock.Tick) when a call sent after it was first answered before it, or 0
	prev, next  *ticket
	done        bool
	abandoned   bool          // its caller gave up on it; it keeps its place until settled
	order       atomic.Uint64 // its request's place in the worker's input, once it has one (0 before)
	p           *Pool
}

// written records t's place in its worker's input (see Conn.call).
func (t *ticket) written(order uint64) { t.order.Store(order) }

// writtenBefore reports whether x's request was written to the worker before y's (y's may
// not be written yet). Calls are given to a worker in one order (its queue) but written by
// their callers' goroutines, so a call whose params take long to encode can reach the worker
// after one given to it later, and wait behind it there. Workers that do not tell the order
// (tests' fakes) give none: nothing is written before anything.
func writtenBefore(x, y *ticket) bool {
	a, b := x.order.Load(), y.order.Load()
	return a != 0 && (b == 0 || a < b)
}

// settled releases a call its caller gave up on, once its worker answered it or ended
// (see Conn.call): from then on the worker no longer runs it.
func (t *ticket) settled() { t.p.release(t, true, false) }

// abandon records that t's caller gave up on it while the worker may still run it: it keeps
// its place on the worker (no new call is written behind it there), but neither drains nor
// retirements wait for it.
func (p *Pool) abandon(t *ticket) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.done {
		return // settled already
	}
	t.abandoned = true
	r := t.r
	r.abandoned++
	if r.retiring && r.owed() == 0 {
		go p.stopRunning(r)
	}
	p.checkDrainedLocked()
}

// owed is how many of r's calls in flight have a caller waiting for them.
func (r *running) owed() int { return r.inflight - r.abandoned }

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
	ch     chan acquired // buffered: one hand-over
	since  time.Duration // (clock.Tick) when it began to wait
	method string        // the call's method ("" for a message or notification)
	not    *running      // a worker to avoid (the one a retried call failed on), or nil
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

// capacityLocked is how many calls r may have in flight now (a clock.Tick).
func (p *Pool) capacityLocked(r *running, now time.Duration) int {
	if p.cfg.concurrency > 0 {
		return p.cfg.concurrency
	}
	if r.inflight > 0 && (r.slowInFlight > 0 || now-r.progress > p.slowAfter(r)) {
		return r.inflight // running a slow call: no new call until it answers
	}
	return int(r.window)
}

// slowAfter is how long a busy worker may go without answering before it counts as slow.
func (p *Pool) slowAfter(r *running) time.Duration {
	return max(slowFloor, slowFactor*r.gap)
}

// pickLocked returns the least busy ready worker with room, other than not if possible.
// A call expected to be slow (slow) goes only to an idle worker: the calls given to a
// worker are written by their callers' goroutines in no set order, so a call given before
// it could otherwise reach the worker after it and wait for it there. Other calls do not
// go to the worker being emptied for a slow call (p.drain).
func (p *Pool) pickLocked(not *running, slow bool, now time.Duration) *running {
	var best *running
	for _, s := range p.slots {
		r := s.current
		if r == nil || r.retiring || r.inflight >= p.capacityLocked(r, now) || (slow && r.inflight > 0) || (!slow && r == p.drain) {
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

// expectSlowLocked reports whether a call of method is expected to be slow (see slowness);
// never with a fixed window (WithConcurrency).
func (p *Pool) expectSlowLocked(method string) bool {
	return p.cfg.concurrency == 0 && p.slowness.expected(method)
}

// takeLocked gives r one more call of method (slow: expected to be slow) at now (a clock.Tick).
func (p *Pool) takeLocked(r *running, method string, slow bool, now time.Duration) *ticket {
	r.sent++
	t := &ticket{r: r, method: method, slow: slow, seq: r.sent, p: p}
	if slow {
		r.slowInFlight++
	}
	if r.queue.head == nil {
		r.progress, t.startedAt = now, now
	}
	r.queue.push(t)
	r.inflight++
	return t
}

// dispatchLocked hands free workers to waiting calls, oldest first, except that a call
// expected to be slow lets the others go first for as long as such a call usually takes
// (see slowness.yield): a worker freed by a slow call serves the quick calls that queued
// meanwhile before it starts the next slow one. After that, the slow call has a worker
// emptied for it (p.drain: it gets no new quick calls, and takes the slow call once idle).
// It runs whenever a call is released or a worker starts, so under traffic a slow call's
// turn comes without a timer of its own.
//
// A slow call never takes, nor has emptied for it, the last worker that runs no slow call
// while quick calls wait (see slowMayTakeLocked): slow calls that are all due would
// otherwise take every worker in turn, and the quick calls wait for them. now is a
// clock.Tick.
func (p *Pool) dispatchLocked(now time.Duration) {
	p.drain = nil
	if p.waiters.Len() == 0 {
		return
	}
	p.drainForDueLocked(now)
	slowWaiting, quickWaiting := false, false
	for e := p.waiters.Front(); e != nil; {
		next := e.Next()
		wt := e.Value.(*waiter)
		if p.expectSlowLocked(wt.method) {
			slowWaiting = true
		} else if !p.giveLocked(e, wt, false, now) {
			quickWaiting = true
			break // no room for quick calls: none for the ones behind it either
		}
		e = next
	}
	if !slowWaiting {
		return
	}
	// The slow calls, oldest first, on idle workers.
	placed := false
	for e := p.waiters.Front(); e != nil; {
		next := e.Next()
		wt := e.Value.(*waiter)
		if p.expectSlowLocked(wt.method) {
			if !p.slowMayTakeLocked(quickWaiting) || !p.giveLocked(e, wt, true, now) {
				break
			}
			placed = true
		}
		e = next
	}
	if placed && p.drain != nil {
		p.drain = nil
		p.drainForDueLocked(now)
	}
}

// slowMayTakeLocked reports whether a call expected to be slow may take one more worker
// (or have one emptied for it) now: always when no quick call waits (quickWaiting false),
// else only if a worker that runs no slow call would be left for the quick ones. A pool
// with a single ready worker has none to keep: there, slow and quick calls take turns.
func (p *Pool) slowMayTakeLocked(quickWaiting bool) bool {
	if !quickWaiting {
		return true
	}
	ready, free := 0, 0
	for _, s := range p.slots {
		if r := s.current; r != nil && !r.retiring {
			ready++
			if r.slowInFlight == 0 {
				free++
			}
		}
	}
	return ready < 2 || free >= 2
}

// drainForDueLocked sets p.drain when a waiting call expected to be slow has let quick ones
// go first long enough: to the least busy worker that runs no slow call, unless that would
// leave quick calls that wait with no worker (see slowMayTakeLocked). now is a clock.Tick.
func (p *Pool) drainForDueLocked(now time.Duration) {
	if len(p.slowness) == 0 {
		return
	}
	due, quickWaiting := false, false
	for e := p.waiters.Front(); e != nil && !(due && quickWaiting); e = e.Next() {
		wt := e.Value.(*waiter)
		if p.expectSlowLocked(wt.method) {
			due = due || now-wt.since >= p.slowness.yield(wt.method)
		} else {
			quickWaiting = true
		}
	}
	if !due || !p.slowMayTakeLocked(quickWaiting) {
		return
	}
	for _, s := range p.slots {
		if r := s.current; r != nil && !r.retiring && r.slowInFlight == 0 && (p.drain == nil || r.inflight < p.drain.inflight) {
			p.drain = r
		}
	}
}

// giveLocked gives waiter wt (list element e) a place on a worker, if one has room.
func (p *Pool) giveLocked(e *list.Element, wt *waiter, slow bool, now time.Duration) bool {
	r := p.pickLocked(wt.not, slow, now)
	if r == nil {
		return false
	}
	p.waiters.Remove(e)
	wt.ch <- acquired{t: p.takeLocked(r, wt.method, slow, now)}
	return true
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

// acquire reserves a place on a worker for one call of method ("" for a message or
// notification), waiting in the queue if none has room.
func (p *Pool) acquire(ctx context.Context, method string, not *running) (*ticket, error) {
	p.mu.Lock()
	now := p.clk.Tick() // (one reading for the choice and the ticket)
	if p.closed {
		// Draining: a call in flight, which the drain waits for, may need its handler's
		// call back into the pool; that worker takes it.
		if r := p.callerLocked(ctx, not); r != nil && p.ctx.Err() == nil {
			t := p.takeLocked(r, method, false, now)
			p.mu.Unlock()
			return t, nil
		}
		p.mu.Unlock()
		return nil, ErrClosed
	}
	// A worker with room now would have been given to the calls waiting, had they fitted
	// (dispatchLocked runs whenever room appears): taking it goes before none of them.
	slow := p.expectSlowLocked(method)
	if r := p.pickLocked(not, slow, now); r != nil {
		t := p.takeLocked(r, method, slow, now)
		p.mu.Unlock()
		return t, nil
	}
	if r := p.callerLocked(ctx, not); r != nil {
		// A host handler serving a call of r calls the pool: r waits for it, so r takes
		// it past its window; in the queue it could wait for ever, r's call never ending.
		t := p.takeLocked(r, method, false, now)
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
	wt := &waiter{ch: make(chan acquired, 1), since: now, method: method, not: not}
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
			why := p.noWorkerLocked()
			p.mu.Unlock()
			return nil, fmt.Errorf("%w: %s before the call's context ended: %w", ErrSaturated, why, ctx.Err())
		}
		return nil, fmt.Errorf("%w: no worker was free before the call's context ended: %w", ErrSaturated, ctx.Err())
	}
}

// callerLocked returns the ready worker whose call to the host is being served by the
// handler that gave ctx, or nil: a call from such a handler goes to that worker when no
// other worker has room, whatever its window (WithConcurrency included), since that
// worker waits for the handler's answer. A worker that runs requests concurrently (and a
// client that serves the host's calls while its own call to the host waits) answers it.
func (p *Pool) callerLocked(ctx context.Context, not *running) *running {
	c := servedBy(ctx)
	if c == nil {
		return nil
	}
	for _, s := range p.slots {
		r := s.current
		if r == nil || r == not || r.retiring {
			continue
		}
		if !serves(r.w, c) {
			continue
		}
		if isDone(r.w.Exited()) {
			return nil
		}
		return r
	}
	return nil
}

// noWorkerLocked says why a call found no worker: all were busy, or none was ready, and
// then where the workers stand (starting, or waiting to restart after a failure) and the
// last failure, so that a pool whose workers cannot start is not taken for an overloaded one.
func (p *Pool) noWorkerLocked() string {
	if p.anyReadyLocked() {
		held := 0 // workers busy only with calls their callers gave up on
		for _, s := range p.slots {
			if r := s.current; r != nil && r.abandoned > 0 && r.owed() == 0 {
				held++
			}
		}
		if held == 0 {
			return "no worker was free"
		}
		return fmt.Sprintf("no worker was free (%d of %d busy only with calls given up on, which the worker "+
			"still runs: one that ignores $cancel keeps them until they end; WithExecTimeout bounds them)", held, len(p.slots))
	}
	starting, backoff := 0, 0
	for _, s := range p.slots {
		switch s.state {
		case stateStarting:
			starting++
		case stateBackoff:
			backoff++
		}
	}
	why := fmt.Sprintf("no worker was ready (%d of %d starting, %d waiting to restart after a failure)", starting, len(p.slots), backoff)
	if p.lastFail != nil {
		why += fmt.Sprintf("; the last failure: %v", p.lastFail)
	}
	return why
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
	now := p.clk.Tick()
	head := r.queue.head
	if head == t && t.next != nil {
		t.next.startedAt = now
	} else if head != t && head != nil && (head.startedAt == 0 || writtenBefore(t, head)) {
		// The oldest call given to r was written after t, or was found waiting behind t
		// (see execTimeLeftLocked): its time in the worker begins now.
		head.startedAt = now
	}
	// t overtook the calls sent before it: r runs calls concurrently, or answered several
	// at once. The calls marked overtaken are always the oldest ones.
	for x := t.prev; x != nil && x.overtakenAt == 0; x = x.prev {
		x.overtakenAt = now
	}
	r.queue.remove(t)
	r.inflight--
	if t.abandoned {
		r.abandoned--
	}
	if t.slow {
		r.slowInFlight--
	}
	r.lastUsed = now
	if job {
		r.jobs++
	}
	if answered {
		p.adaptLocked(r, t, now, head == t)
		r.progress = now
	}
	if r.retiring {
		if r.owed() == 0 && !t.abandoned { // else abandon or retireLocked asked already
			go p.stopRunning(r)
		}
		p.checkDrainedLocked()
		return
	}
	if r.maxJobs > 0 && r.jobs >= int64(r.maxJobs) {
		p.recycleLocked(r, "max jobs")
	}
	p.dispatchLocked(now)
	p.checkDrainedLocked()
}

// adaptLocked learns from the answer to t at now (head: t was r's oldest call in flight).
// An answer is slow when t was the oldest call and ran longer than slowAfter since it
// became so. It held other calls up when calls sent after it were waiting for it: some
// were sent, and none of them was answered well before it (a worker that runs calls
// concurrently answers the others meanwhile; one that writes its answers together answers
// them at about the same time). After a quick answer the window grows by one and t's
// method counts as quick; after a slow one that held others up, the window halves and the
// method counts as slow; a slow answer that held nothing up changes neither. An answer
// that overtook an older call says nothing of its method (it may have been written
// together with the older one's, and its caller woken first).
func (p *Pool) adaptLocked(r *running, t *ticket, now time.Duration, head bool) {
	gap := now - r.progress
	after := p.slowAfter(r)
	slow := head && r.gap > 0 && now-t.startedAt > after
	held := r.sent > t.seq && (t.overtakenAt == 0 || now-t.overtakenAt < after/4)
	if head && (!slow || held) {
		p.slowness.observe(t.method, slow)
	}
	if slow {
		p.slowness.took(t.method, now-t.startedAt)
	}
	if r.gap == 0 {
		r.gap = max(gap, time.Microsecond)
	} else {
		// A long gap moves the average by at most 1/16 of itself: the average is the
		// worker's pace, which the slow calls it measures against must not set (were they
		// 1% of calls, they would soon make themselves look quick). A lasting change of
		// pace still gets there, doubling every eleven answers.
		r.gap += min(gap-r.gap, r.gap) / 16
	}
	switch {
	case slow && held:
		r.window = max(1, r.window/2)
	case !slow && r.window < maxWindow:
		r.window++
	}
}

// slowness remembers, per method, whether its calls have lately blocked a worker for long
// (answered slowly, in the sense of slowAfter, while other calls waited behind them): a
// moving average of 1 for a slow answer and 0 for a quick one, over about the last four
// answers, and how long its slow answers took. A method whose average is at least
// slowExpected is expected to be slow. It remembers at most maxSlowMethods methods, and
// only those with a slow answer: a pool whose calls are all quick keeps none.
type slowness map[string]*methodSlowness

type methodSlowness struct {
	score float64
	took  time.Duration // moving average of its slow answers' time in the worker
}

const (
	slowExpected   = 0.25
	maxSlowMethods = 1024
)

func (s slowness) expected(method string) bool {
	m := s[method]
	return m != nil && m.score >= slowExpected
}

// yield is how long a call of method, expected to be slow, lets quick calls go first: as
// long as such a call usually takes, at least slowFloor and at most maxYield. So a slow call
// waits at most about twice as long as it runs while quick calls keep the workers busy.
func (s slowness) yield(method string) time.Duration {
	d := slowFloor
	if m := s[method]; m != nil {
		d = m.took
	}
	return min(max(d, slowFloor), maxYield)
}

func (s *slowness) observe(method string, slow bool) {
	if method == "" {
		return
	}
	m := (*s)[method]
	switch {
	case slow && m == nil:
		if *s == nil {
			*s = make(slowness)
		}
		if len(*s) >= maxSlowMethods {
			for k, x := range *s { // forget one that is no longer slow, if any
				if x.score < slowExpected {
					delete(*s, k)
					break
				}
			}
			if len(*s) >= maxSlowMethods {
				return
			}
		}
		(*s)[method] = &methodSlowness{score: 0.5}
	case slow:
		m.score += (1 - m.score) / 4
	case m != nil:
		if m.score -= m.score / 4; m.score < 0.01 {
			delete(*s, method)
		}
	}
}

// took records that a call of method took d in the worker and was slow.
func (s slowness) took(method string, d time.Duration) {
	if m := s[method]; m != nil {
		if m.took == 0 {
			m.took = d
		} else {
			m.took += (d - m.took) / 4
		}
	}
}
