package bridge

import (
	"context"
	"time"
)

// worker is what a Pool needs of one of its workers: the exported surface of a Process,
// which satisfies it. Tests give the Pool fake workers instead.
type worker interface {
	Caller
	Done() <-chan struct{}
	Exited() <-chan struct{}
	Wait() error
	closeWithin(ctx context.Context) error
	Terminate()
	Kill() error
	Pid() int
	Name() string
	RSS() (int64, error)
}

var _ worker = (*Process)(nil)

// watchedCaller is a worker that tells the pool when a call its caller gave up on is
// settled (answered late, or ended with the worker), so that the call keeps its place on
// the worker while the worker may still be running it. A Process is one; a worker that is
// not has its calls' places freed when their callers give up.
type watchedCaller interface {
	callWatched(ctx context.Context, method string, params, result any, s settler) (abandoned bool, _ error)
}

var _ watchedCaller = (*Process)(nil)

// workerState is where a worker slot stands.
type workerState int

const (
	stateStarting workerState = iota // a worker is being started
	stateReady                       // a worker takes calls
	stateBackoff                     // the last worker failed; waiting to restart
	stateStopped                     // the pool is closed
)

func (s workerState) String() string {
	switch s {
	case stateStarting:
		return "starting"
	case stateReady:
		return "ready"
	case stateBackoff:
		return "backoff"
	case stateStopped:
		return "stopped"
	}
	return "unknown"
}

// running is one worker process of a slot and what the pool tracks about it.
type running struct {
	slot     *slot
	w        worker
	started  time.Time
	maxJobs  int           // 0: no limit
	lifetime time.Duration // 0: no limit

	// under Pool.mu
	inflight     int // its calls in flight, those given up on included
	abandoned    int // its calls given up on by their callers, not yet settled
	jobs         int64
	lastUsed     time.Duration // (clock.Tick) its last answer, or its start
	retiring     bool
	rss          int64
	window       float64       // calls it may take at once (adaptive pipelining)
	gap          time.Duration // moving average of the time between its answers while busy
	slowInFlight int           // its calls in flight of methods expected to be slow
	sent         int64         // calls given to it so far (ticket.seq)
	progress     time.Duration // (clock.Tick) its last answer, or when it became busy
	queue        tickets       // its calls in flight, oldest first
	ended        string        // why the pool ended it, for the other calls it fails
}
