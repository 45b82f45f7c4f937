package bridge

import "time"

// clock is the time a Pool's supervision, backoff and limits run on. Tests replace it with
// a fake that they advance by hand (as thejerf/suture injects its clock), so backoff,
// crash-loop, lifetime and idle tests take milliseconds.
type clock interface {
	Now() time.Time
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
