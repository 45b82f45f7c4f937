package bridge

import (
	"context"
	"runtime"
	"time"
)

// poolConfig is what NewPool needs beyond the workers' own settings.
type poolConfig struct {
	workers       int
	concurrency   int // 0: an adaptive window per worker; else a fixed number of calls
	queue         int
	minBackoff    time.Duration
	maxBackoff    time.Duration
	healthyAfter  time.Duration
	crashRestarts int
	crashWindow   time.Duration
	maxJobs       int
	maxLifetime   time.Duration
	maxIdle       time.Duration
	maxRSS        int64
	execTimeout   time.Duration
	drainTimeout  time.Duration
	sampleEvery   time.Duration
	listen        listenConfig // WithListeners, WithListener, WithListenMode (listen.go)
	clock         clock
	starter       func(ctx context.Context, name string) (worker, error) // tests: fake workers
}

func defaultPoolConfig() poolConfig {
	return poolConfig{
		workers:       runtime.NumCPU(),
		concurrency:   0,
		queue:         1024,
		minBackoff:    100 * time.Millisecond,
		maxBackoff:    10 * time.Second,
		healthyAfter:  10 * time.Second,
		crashRestarts: 5,
		crashWindow:   30 * time.Second,
		drainTimeout:  30 * time.Second,
		sampleEvery:   500 * time.Millisecond,
		clock:         realClock{},
	}
}

// maxWorkers is the most workers WithWorkers accepts: Linux's highest possible pid_max, so
// no system runs more processes than this. (math.MaxInt made NewPool panic, allocating for
// that many.)
const maxWorkers = 1 << 22

// WithWorkers sets how many workers a Pool runs (default: the number of CPUs), at most
// 4,194,304 (Linux's highest possible pid_max: no system runs more processes).
func WithWorkers(n int) Option {
	return func(c *config) {
		c.use("WithWorkers", scopePool)
		switch {
		case n < 1:
			c.fail("WithWorkers", "%d is less than 1", n)
		case n > maxWorkers:
			c.fail("WithWorkers", "%d is more than %d, more processes than any system runs", n, maxWorkers)
		}
		c.pool.workers = n
	}
}

// WithConcurrency fixes how many calls one worker takes at once. By default a pool
// pipelines: each worker's window of calls in flight starts at one and grows while its
// answers stay quick (up to 64), and halves when a slow answer held other calls up; a worker
// whose oldest call is running long gets no new calls until it answers; and methods whose
// calls held a worker up are learned: such a call runs alone on an idle worker, and waiting
// quick calls go before it for about as long as it usually takes (10 ms to 2 s), after which
// a worker is emptied for it (never the last one running no slow call while quick calls
// wait). So a busy worker's input never runs dry, and quick calls are seldom caught behind
// a slow one. WithConcurrency(1) gives a synchronous worker
// one call at a time, in arrival order (no call ever waits behind another in its input);
// a larger k is a fixed window. With a fixed window nothing is learned.
func WithConcurrency(k int) Option {
	return func(c *config) {
		c.use("WithConcurrency", scopePool)
		if k < 1 {
			c.fail("WithConcurrency", "%d is less than 1", k)
		}
		c.pool.concurrency = k
	}
}

// WithQueueSize bounds how many calls wait for a free worker (default 1024); past it,
// calls fail at once with ErrSaturated. 0 means calls never wait.
func WithQueueSize(n int) Option {
	return func(c *config) {
		c.use("WithQueueSize", scopePool)
		if n < 0 {
			c.fail("WithQueueSize", "%d is negative", n)
		}
		c.pool.queue = n
	}
}

// WithRestartBackoff sets the delays between restarts of a worker that keeps failing: the
// first restart after a healthy run is immediate, then min, doubling up to max, with
// jitter (defaults 100 ms and 10 s). A worker that stays up for healthyAfter (default 10 s),
// or answers 100 calls, counts as healthy: its death is restarted at once and does not count
// toward a crash loop.
func WithRestartBackoff(min, max, healthyAfter time.Duration) Option {
	return func(c *config) {
		c.use("WithRestartBackoff", scopePool)
		if min <= 0 || max < min || healthyAfter <= 0 {
			c.fail("WithRestartBackoff", "want 0 < min <= max and healthyAfter > 0, got %v, %v, %v", min, max, healthyAfter)
		}
		c.pool.minBackoff, c.pool.maxBackoff, c.pool.healthyAfter = min, max, healthyAfter
	}
}

// WithCrashLoop sets when a Pool reports that it is crash-looping: when its worker failures
// (failed starts, and exits of workers that had not yet run healthily: see
// WithRestartBackoff), counted with a decay that halves the count every window, exceed
// restarts per worker (default 5 per worker, window 30 s). While it is crash-looping
// and no worker is ready, calls fail at once with a *CrashLoopError instead of waiting.
func WithCrashLoop(restarts int, window time.Duration) Option {
	return func(c *config) {
		c.use("WithCrashLoop", scopePool)
		if restarts < 1 || window <= 0 {
			c.fail("WithCrashLoop", "want restarts >= 1 and a positive window, got %d, %v", restarts, window)
		}
		c.pool.crashRestarts, c.pool.crashWindow = restarts, window
	}
}

// WithMaxJobs recycles a worker after about n calls (up to 10% more, at random, so workers
// do not all restart together). 0, the default, means no limit.
func WithMaxJobs(n int) Option {
	return func(c *config) {
		c.use("WithMaxJobs", scopePool)
		if n < 0 {
			c.fail("WithMaxJobs", "%d is negative", n)
		}
		c.pool.maxJobs = n
	}
}

// WithMaxLifetime recycles a worker after about d (up to 10% more, at random). 0, the
// default, means no limit.
func WithMaxLifetime(d time.Duration) Option {
	return func(c *config) {
		c.use("WithMaxLifetime", scopePool)
		if d < 0 {
			c.fail("WithMaxLifetime", "%v is negative", d)
		}
		c.pool.maxLifetime = d
	}
}

// WithMaxIdle recycles a worker that has had no call for d. 0, the default, means no limit.
func WithMaxIdle(d time.Duration) Option {
	return func(c *config) {
		c.use("WithMaxIdle", scopePool)
		if d < 0 {
			c.fail("WithMaxIdle", "%v is negative", d)
		}
		c.pool.maxIdle = d
	}
}

// WithMaxRSS recycles a worker whose resident memory exceeds bytes, sampled every half
// second (Linux only). 0, the default, means no limit.
func WithMaxRSS(bytes int64) Option {
	return func(c *config) {
		c.use("WithMaxRSS", scopePool)
		if bytes < 0 {
			c.fail("WithMaxRSS", "%d is negative", bytes)
		}
		c.pool.maxRSS = bytes
	}
}

// WithExecTimeout bounds each call's execution on a worker. A call that takes longer gets
// an error matching ErrExecTimeout and context.DeadlineExceeded, and its worker is ended
// (SIGTERM, then SIGKILL after the second grace period of WithGracePeriods) and replaced;
// other workers are untouched. A call whose caller gave up on it (its context ended) while
// its worker runs it is still bounded: the worker may go on running it, so the call keeps
// its place there (no other call is sent to wait behind it) until the worker answers it, and
// past the timeout the worker is ended. 0, the default, means only the caller's context
// bounds a call.
func WithExecTimeout(d time.Duration) Option {
	return func(c *config) {
		c.use("WithExecTimeout", scopePool)
		if d < 0 {
			c.fail("WithExecTimeout", "%v is negative", d)
		}
		c.pool.execTimeout = d
	}
}

// WithDrainTimeout bounds how long Pool.Close lets calls in flight and queued finish
// before the workers are stopped anyway (default 30 s). Shutdown takes its bound from its
// context instead.
func WithDrainTimeout(d time.Duration) Option {
	return func(c *config) {
		c.use("WithDrainTimeout", scopePool)
		if d <= 0 {
			c.fail("WithDrainTimeout", "%v is not positive", d)
		}
		c.pool.drainTimeout = d
	}
}

// withClock replaces the clock (tests).
func withClock(clk clock) Option {
	return func(c *config) {
		c.use("withClock", scopePool)
		c.pool.clock = clk
	}
}

// withStarter replaces how workers are started (tests: fake workers).
func withStarter(fn func(ctx context.Context, name string) (worker, error)) Option {
	return func(c *config) {
		c.use("withStarter", scopePool)
		c.pool.starter = fn
	}
}
