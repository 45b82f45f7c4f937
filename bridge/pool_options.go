package bridge

import (
	"fmt"
	"runtime"
	"strings"
	"time"
)

// PoolOption configures NewPool.
type PoolOption func(*poolConfig)

type poolConfig struct {
	workers       int
	concurrency   int
	queue         int
	maxBackoff    time.Duration
	minBackoff    time.Duration
	healthyAfter  time.Duration
	crashRestarts int
	crashWindow   time.Duration
	maxJobs       int
	maxLifetime   time.Duration
	maxIdle       time.Duration
	maxRSS        int64
	execTimeout   time.Duration
	sampleEvery   time.Duration
	killGrace     time.Duration
	name          string
	procOpts      []Option
	errs          []string
}

func defaultPoolConfig() *poolConfig {
	return &poolConfig{
		workers:       runtime.NumCPU(),
		concurrency:   1,
		queue:         1024,
		minBackoff:    100 * time.Millisecond,
		maxBackoff:    10 * time.Second,
		healthyAfter:  10 * time.Second,
		crashRestarts: 5,
		crashWindow:   30 * time.Second,
		sampleEvery:   500 * time.Millisecond,
		killGrace:     2 * time.Second,
	}
}

func (c *poolConfig) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

func (c *poolConfig) validate() error {
	if len(c.errs) > 0 {
		return fmt.Errorf("bridge: invalid pool options: %s", strings.Join(c.errs, "; "))
	}
	return nil
}

// Workers sets how many workers the pool runs (default: the number of CPUs).
func Workers(n int) PoolOption {
	return func(c *poolConfig) {
		if n < 1 {
			c.fail("Workers: %d is less than 1", n)
		}
		c.workers = n
	}
}

// Concurrency sets how many calls one worker takes at once (default 1). Raise it for
// workers whose handlers are async (asyncio, Node promises).
func Concurrency(k int) PoolOption {
	return func(c *poolConfig) {
		if k < 1 {
			c.fail("Concurrency: %d is less than 1", k)
		}
		c.concurrency = k
	}
}

// QueueSize bounds how many calls wait for a free worker (default 1024); past it, calls
// fail at once with ErrSaturated. 0 means calls never wait.
func QueueSize(n int) PoolOption {
	return func(c *poolConfig) {
		if n < 0 {
			c.fail("QueueSize: %d is negative", n)
		}
		c.queue = n
	}
}

// RestartBackoff sets the delays between restarts of a worker that keeps failing: the
// first restart after a healthy run is immediate, then min, doubling up to max, with
// jitter (defaults 100 ms and 10 s). A worker that stays up for healthyAfter (default 10 s)
// resets the backoff.
func RestartBackoff(min, max, healthyAfter time.Duration) PoolOption {
	return func(c *poolConfig) {
		if min <= 0 || max < min || healthyAfter <= 0 {
			c.fail("RestartBackoff: want 0 < min <= max and healthyAfter > 0, got %v, %v, %v", min, max, healthyAfter)
		}
		c.minBackoff, c.maxBackoff, c.healthyAfter = min, max, healthyAfter
	}
}

// CrashLoop sets when the pool reports that it is crash-looping: more than restarts
// failures (exits or failed starts) within window (default 5 in 30 s).
func CrashLoop(restarts int, window time.Duration) PoolOption {
	return func(c *poolConfig) {
		if restarts < 1 || window <= 0 {
			c.fail("CrashLoop: want restarts >= 1 and a positive window, got %d, %v", restarts, window)
		}
		c.crashRestarts, c.crashWindow = restarts, window
	}
}

// MaxJobs recycles a worker after about n calls (up to 10% more, at random, so workers do
// not all restart together). 0, the default, means no limit.
func MaxJobs(n int) PoolOption {
	return func(c *poolConfig) {
		if n < 0 {
			c.fail("MaxJobs: %d is negative", n)
		}
		c.maxJobs = n
	}
}

// MaxLifetime recycles a worker after about d (up to 10% more, at random). 0, the
// default, means no limit.
func MaxLifetime(d time.Duration) PoolOption {
	return func(c *poolConfig) {
		if d < 0 {
			c.fail("MaxLifetime: %v is negative", d)
		}
		c.maxLifetime = d
	}
}

// MaxIdle recycles a worker that has had no call for d. 0, the default, means no limit.
func MaxIdle(d time.Duration) PoolOption {
	return func(c *poolConfig) {
		if d < 0 {
			c.fail("MaxIdle: %v is negative", d)
		}
		c.maxIdle = d
	}
}

// MaxRSS recycles a worker whose resident memory exceeds bytes, sampled every half second.
// 0, the default, means no limit.
func MaxRSS(bytes int64) PoolOption {
	return func(c *poolConfig) {
		if bytes < 0 {
			c.fail("MaxRSS: %d is negative", bytes)
		}
		c.maxRSS = bytes
	}
}

// ExecTimeout bounds each call's execution on a worker. A call that takes longer gets an
// error matching ErrExecTimeout and context.DeadlineExceeded, and its worker is ended
// ($cancel, then SIGTERM, then SIGKILL) and replaced; other workers are untouched. 0, the
// default, means only the caller's context bounds a call.
func ExecTimeout(d time.Duration) PoolOption {
	return func(c *poolConfig) {
		if d < 0 {
			c.fail("ExecTimeout: %v is negative", d)
		}
		c.execTimeout = d
	}
}

// PoolName sets the name workers' logs are tagged with; worker i is "NAME#i".
func PoolName(name string) PoolOption { return func(c *poolConfig) { c.name = name } }

// WorkerOptions applies process options (environment, handlers, stderr sink, start
// timeout...) to every worker.
func WorkerOptions(opts ...Option) PoolOption {
	return func(c *poolConfig) { c.procOpts = append(c.procOpts, opts...) }
}
