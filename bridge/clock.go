package bridge

import "time"

// clock is the time a Pool's supervision, backoff and limits run on. Tests replace it with
// a fake that they advance by hand (as thejerf/suture injects its clock), so backoff,
// crash-loop, lifetime and idle tests take milliseconds.
type clock interface {
	Now() time.Time
	// Tick is the time since a fixed origin on the monotonic clock, always positive: the
	// reading of the pool's per-call bookkeeping, cheaper than Now (one clock read, no wall
	// time, and plain integer arithmetic after it). Tick and Now advance together.
	Tick() time.Duration
	// AfterFunc calls f on a goroutine of its own after d, unless stopped first.
	AfterFunc(d time.Duration, f func()) stopper
	// NewTimer returns a channel that receives once after d, and a stopper.
	NewTimer(d time.Duration) (<-chan time.Time, stopper)
}

// stopper stops a timer; Stop reports whether it stopped it before it fired.
type stopper interface{ Stop() bool }

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// tickOrigin is realClock's origin for Tick: a second before the package started, so that
// no tick is zero (the bookkeeping reads a zero tick as "not yet").
var tickOrigin = time.Now().Add(-time.Second)

func (realClock) Tick() time.Duration { return time.Since(tickOrigin) }

func (realClock) AfterFunc(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) }

func (realClock) NewTimer(d time.Duration) (<-chan time.Time, stopper) {
	t := time.NewTimer(d)
	return t.C, t
}

// closedWithin waits up to d for ch to be closed and reports whether it was.
func closedWithin(ch <-chan struct{}, d time.Duration) bool {
	return closedWithinUnless(ch, d, nil)
}

// closedWithinUnless is closedWithin that gives up at once when cut is closed (never, when
// cut is nil).
func closedWithinUnless(ch <-chan struct{}, d time.Duration, cut <-chan struct{}) bool {
	if isDone(ch) {
		return true
	}
	if isDone(cut) {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	case <-cut:
		return false
	}
}
