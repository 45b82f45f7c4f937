package bridge

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/polyfork/polyfork/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Supervision and dispatch with fake workers on a fake clock: backoff, crash loops,
// lifetimes and timeouts take milliseconds, and every delay is checked exactly.

// fakeClock is a clock tests advance by hand.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	clk *fakeClock
	at  time.Time
	d   time.Duration
	c   chan time.Time
	f   func()
}

// fakeStart is where a fakeClock starts.
var fakeStart = time.Unix(1_000_000, 0)

func newFakeClock() *fakeClock { return &fakeClock{now: fakeStart} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Tick counts from a second before the clock's start, as realClock's does.
func (c *fakeClock) Tick() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now.Sub(fakeStart) + time.Second
}

func (c *fakeClock) add(d time.Duration, f func()) *fakeTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clk: c, at: c.now.Add(d), d: d, c: make(chan time.Time, 1), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) stopper { return c.add(d, f) }

func (c *fakeClock) NewTimer(d time.Duration) (<-chan time.Time, stopper) {
	t := c.add(d, nil)
	return t.c, t
}

func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	for i, x := range t.clk.timers {
		if x == t {
			t.clk.timers = append(t.clk.timers[:i], t.clk.timers[i+1:]...)
			return true
		}
	}
	return false
}

// Advance moves time on and fires the timers that are due, in order.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	keep := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			due = append(due, t)
		} else {
			keep = append(keep, t)
		}
	}
	c.timers = keep
	now := c.now
	c.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		if t.f != nil {
			go t.f()
		} else {
			t.c <- now
		}
	}
}

// sleepers returns the durations of the pending timers made by NewTimer (sleeps), not
// AfterFunc, in the order they were made.
func (c *fakeClock) sleepers() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ds []time.Duration
	for _, t := range c.timers {
		if t.f == nil {
			ds = append(ds, t.d)
		}
	}
	return ds
}

// waitSleep waits until some goroutine sleeps for a duration accepted by ok, and returns it.
func (c *fakeClock) waitSleep(t *testing.T, what string, ok func(time.Duration) bool) time.Duration {
	t.Helper()
	var got time.Duration
	eventually(t, what, func() bool {
		for _, d := range c.sleepers() {
			if ok(d) {
				got = d
				return true
			}
		}
		return false
	})
	return got
}

// isBackoff tells a restart's sleep from the limit sampler's (every 500 ms).
func isBackoff(d time.Duration) bool { return d > 0 && d != defaultPoolConfig().sampleEvery }

// live returns the farm's workers that have not exited.
func (f *fakeFarm) live() []*fakeWorker {
	var out []*fakeWorker
	for _, w := range f.all() {
		select {
		case <-w.exited:
		default:
			out = append(out, w)
		}
	}
	return out
}

// fakeWorker plays a worker: calls run the test's behaviour; it exits when told.
type fakeWorker struct {
	name      string
	pid       int
	behave    func(ctx context.Context, w *fakeWorker, method string) (any, error)
	exited    chan struct{}
	done      chan struct{}
	once      sync.Once
	err       error
	calls     atomic.Int64
	termed    atomic.Bool
	stopped   atomic.Bool
	rss       atomic.Int64
	messages  chan any
	shutdowns atomic.Int64
}

var nextFakePid atomic.Int64

func newFakeWorker(name string, behave func(ctx context.Context, w *fakeWorker, method string) (any, error)) *fakeWorker {
	return &fakeWorker{name: name, pid: int(nextFakePid.Add(1)) + 100000, behave: behave,
		exited: make(chan struct{}), done: make(chan struct{}), messages: make(chan any, 16)}
}

func (w *fakeWorker) exit(err error) {
	w.once.Do(func() {
		w.err = err
		close(w.exited)
		close(w.done)
	})
}

func (w *fakeWorker) Call(ctx context.Context, method string, params, result any, _ ...CallOption) error {
	w.calls.Add(1)
	select {
	case <-w.exited:
		return w.err
	default:
	}
	type answer struct {
		v   any
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		v, err := w.behave(ctx, w, method)
		ch <- answer{v, err}
	}()
	select {
	case a := <-ch:
		if a.err != nil {
			return a.err
		}
		if p, ok := result.(*any); ok {
			*p = a.v
		}
		return nil
	case <-w.exited:
		return w.err
	}
}

func (w *fakeWorker) Send(ctx context.Context, v any) error { w.messages <- v; return nil }
func (w *fakeWorker) Notify(ctx context.Context, method string, params ...any) error {
	return nil
}
func (w *fakeWorker) Done() <-chan struct{}   { return w.done }
func (w *fakeWorker) Exited() <-chan struct{} { return w.exited }
func (w *fakeWorker) Wait() error             { <-w.done; return w.err }
func (w *fakeWorker) closeWithin(ctx context.Context) error {
	w.shutdowns.Add(1)
	w.stopped.Store(true)
	w.exit(nil)
	return nil
}
func (w *fakeWorker) Terminate() {
	w.termed.Store(true)
	w.exit(&ExitError{Name: w.name, Pid: w.pid, Code: -1, Signal: syscall.SIGTERM})
}
func (w *fakeWorker) Kill() error {
	w.exit(&ExitError{Name: w.name, Pid: w.pid, Code: -1, Signal: syscall.SIGKILL})
	return nil
}
func (w *fakeWorker) Pid() int            { return w.pid }
func (w *fakeWorker) Name() string        { return w.name }
func (w *fakeWorker) RSS() (int64, error) { return w.rss.Load(), nil }
func (w *fakeWorker) crash(code int)      { w.exit(&ExitError{Name: w.name, Pid: w.pid, Code: code}) }

// fakeFarm starts fake workers and remembers them.
type fakeFarm struct {
	mu      sync.Mutex
	workers []*fakeWorker
	failing atomic.Bool // starts fail while set
	behave  func(ctx context.Context, w *fakeWorker, method string) (any, error)
}

func (f *fakeFarm) start(ctx context.Context, name string) (worker, error) {
	if f.failing.Load() {
		return nil, &ExitError{Name: name, Code: 2, Phase: "before $ready", Stderr: []string{"refusing to start"}}
	}
	behave := f.behave
	if behave == nil {
		behave = func(ctx context.Context, w *fakeWorker, method string) (any, error) { return w.pid, nil }
	}
	w := newFakeWorker(name, behave)
	f.mu.Lock()
	f.workers = append(f.workers, w)
	f.mu.Unlock()
	return w, nil
}

func (f *fakeFarm) all() []*fakeWorker {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*fakeWorker(nil), f.workers...)
}

func (f *fakeFarm) last() *fakeWorker {
	ws := f.all()
	return ws[len(ws)-1]
}

// gatedFarm is a fakeFarm whose calls of a method with a gate wait until that gate is
// closed or sent to, and which records the methods in the order their calls started.
type gatedFarm struct {
	*fakeFarm
	mu      sync.Mutex
	started []string
}

func newGatedFarm(gates map[string]chan struct{}) *gatedFarm {
	g := &gatedFarm{}
	g.fakeFarm = &fakeFarm{behave: func(ctx context.Context, w *fakeWorker, method string) (any, error) {
		g.mu.Lock()
		g.started = append(g.started, method)
		g.mu.Unlock()
		if c := gates[method]; c != nil {
			<-c
		}
		return w.pid, nil
	}}
	return g
}

// order returns the methods started so far, and forgets them.
func (g *gatedFarm) order() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	o := g.started
	g.started = nil
	return o
}

func fakePool(t *testing.T, clk *fakeClock, farm *fakeFarm, opts ...Option) *Pool {
	t.Helper()
	p, err := NewPool(context.Background(), []string{"fake"}, append([]Option{withClock(clk), withStarter(farm.start)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(p.Kill)
	return p
}

func currentPids(p *Pool) []int {
	var pids []int
	for _, w := range p.Stats().Workers {
		pids = append(pids, w.Pid)
	}
	return pids
}

func TestSupervisorBackoffDoublesWithJitterAndResetsAfterAHealthyRun(t *testing.T) {
	clk, farm := newFakeClock(), &fakeFarm{}
	p := fakePool(t, clk, farm, WithWorkers(1),
		WithRestartBackoff(100*time.Millisecond, 800*time.Millisecond, 10*time.Second), WithCrashLoop(1000, time.Minute))
	first := farm.last()
	first.crash(1)
	eventually(t, "the first restart is immediate", func() bool { return len(farm.all()) == 2 })

	want := []time.Duration{100, 200, 400, 800, 800} // then the maximum
	for i, base := range want {
		base *= time.Millisecond
		farm.last().crash(1)
		d := clk.waitSleep(t, fmt.Sprintf("backoff %d", i), isBackoff)
		assert.GreaterOrEqual(t, d, base*3/4, "backoff %d", i)
		assert.Less(t, d, base*5/4+time.Nanosecond, "backoff %d", i)
		n := len(farm.all())
		clk.Advance(d)
		eventually(t, "restarted after the backoff", func() bool { return len(farm.all()) == n+1 })
	}
	// A worker that stayed up past healthyAfter resets the backoff: its restart is immediate.
	clk.Advance(11 * time.Second)
	n := len(farm.all())
	farm.last().crash(1)
	eventually(t, "an immediate restart after a healthy run", func() bool { return len(farm.all()) == n+1 })
	assert.Equal(t, 7, p.Stats().Workers[0].Restarts)
}

func TestCrashLoopThresholdScalesWithTheNumberOfWorkers(t *testing.T) {
	for _, tc := range []struct {
		workers, kills int
		looping        bool
	}{{1, 6, true}, {10, 6, false}, {10, 60, true}} {
		t.Run(fmt.Sprintf("%d workers, %d kills", tc.workers, tc.kills), func(t *testing.T) {
			clk, farm := newFakeClock(), &fakeFarm{}
			p := fakePool(t, clk, farm, WithWorkers(tc.workers), WithCrashLoop(5, 30*time.Second),
				WithRestartBackoff(time.Millisecond, time.Millisecond, time.Hour))
			for i := 0; i < tc.kills; i++ {
				n := len(farm.all())
				eventually(t, "all workers up", func() bool { return len(farm.live()) == tc.workers })
				live := farm.live()
				live[i%len(live)].crash(1)
				eventually(t, "restarted", func() bool {
					clk.Advance(time.Millisecond)
					return len(farm.all()) == n+1
				})
			}
			assert.Equal(t, tc.looping, p.loopingOrLastNotice(), "looping after %d kills across %d workers", tc.kills, tc.workers)
		})
	}
}

// loopingOrLastNotice reports whether the pool declared a crash loop at some point since it
// started (it clears again as soon as a worker starts).
func (p *Pool) loopingOrLastNotice() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failures.at(p.clk.Now()) > float64(p.cfg.crashRestarts*len(p.slots))
}

func TestCrashLoopFailsCallsFastUntilAWorkerStarts(t *testing.T) {
	clk, farm := newFakeClock(), &fakeFarm{}
	p := fakePool(t, clk, farm, WithWorkers(1), WithCrashLoop(2, time.Minute),
		WithRestartBackoff(100*time.Millisecond, time.Second, time.Hour))
	farm.failing.Store(true)
	farm.last().crash(1)
	eventually(t, "the pool reports a crash loop", func() bool {
		clk.Advance(time.Second)
		return p.Stats().CrashLooping
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	err := p.Call(ctx, "pid", nil, nil)
	require.ErrorIs(t, err, ErrCrashLooping)
	require.ErrorIs(t, err, ErrUnavailable)
	var cl *CrashLoopError
	require.ErrorAs(t, err, &cl)
	assert.Contains(t, err.Error(), "refusing to start")

	farm.failing.Store(false)
	eventually(t, "the pool recovers by itself", func() bool {
		clk.Advance(time.Second)
		return p.Stats().Ready == 1
	})
	assert.False(t, p.Stats().CrashLooping)
	var pid any
	require.NoError(t, p.Call(ctx, "pid", nil, &pid))
}

func TestFailureCountDecays(t *testing.T) {
	f := failureCount{halfLife: 10 * time.Second}
	now := time.Unix(0, 0)
	for i := 0; i < 4; i++ {
		f.add(now)
	}
	assert.InDelta(t, 4, f.at(now), 1e-9)
	assert.InDelta(t, 2, f.at(now.Add(10*time.Second)), 1e-9)
	assert.InDelta(t, 1, f.at(now.Add(20*time.Second)), 1e-9)
}

func TestLifetimeAndIdleRecycleOnTheClock(t *testing.T) {
	clk, farm := newFakeClock(), &fakeFarm{}
	p := fakePool(t, clk, farm, WithWorkers(1), WithMaxLifetime(time.Minute))
	first := farm.last()
	clk.Advance(30 * time.Second)
	assert.Len(t, farm.all(), 1, "not yet")
	clk.Advance(40 * time.Second) // past the lifetime and its jitter (at most 10%)
	eventually(t, "recycled after its lifetime", func() bool {
		clk.Advance(500 * time.Millisecond)
		return len(farm.all()) == 2 && first.stopped.Load()
	})
	assert.Equal(t, 0, p.Stats().Workers[0].Restarts, "recycling is not a restart")

	clk2, farm2 := newFakeClock(), &fakeFarm{}
	p2 := fakePool(t, clk2, farm2, WithWorkers(1), WithMaxIdle(10*time.Second))
	var v any
	require.NoError(t, p2.Call(context.Background(), "x", nil, &v))
	clk2.Advance(5 * time.Second)
	require.NoError(t, p2.Call(context.Background(), "x", nil, &v))
	clk2.Advance(9 * time.Second)
	assert.Len(t, farm2.all(), 1, "used 9 s ago: not idle")
	eventually(t, "recycled when idle", func() bool {
		clk2.Advance(500 * time.Millisecond)
		return len(farm2.all()) == 2
	})
}

func TestMaxRSSRecycles(t *testing.T) {
	clk, farm := newFakeClock(), &fakeFarm{}
	fakePool(t, clk, farm, WithWorkers(1), WithMaxRSS(100<<20))
	w := farm.last()
	w.rss.Store(50 << 20)
	clk.Advance(time.Second)
	assert.Len(t, farm.all(), 1)
	w.rss.Store(150 << 20)
	eventually(t, "recycled above its memory limit", func() bool {
		clk.Advance(500 * time.Millisecond)
		return len(farm.all()) == 2 && w.stopped.Load()
	})
}

func TestExecTimeoutTerminatesOnlyThatWorker(t *testing.T) {
	clk := newFakeClock()
	farm := &fakeFarm{behave: func(ctx context.Context, w *fakeWorker, method string) (any, error) {
		if method == "stuck" {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return w.pid, nil
	}}
	p := fakePool(t, clk, farm, WithWorkers(2), WithExecTimeout(5*time.Second))
	res := make(chan error, 1)
	go func() { res <- p.Call(context.Background(), "stuck", nil, nil) }()
	eventually(t, "the call in flight", func() bool {
		n := 0
		for _, w := range p.Stats().Workers {
			n += w.InFlight
		}
		return n == 1
	})
	clk.Advance(5 * time.Second)
	err := <-res
	require.ErrorIs(t, err, ErrExecTimeout)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "ran longer than 5s")
	var termed int
	for _, w := range farm.all()[:2] {
		if w.termed.Load() {
			termed++
		}
	}
	assert.Equal(t, 1, termed, "exactly the stuck worker was terminated (SIGTERM, then its own kill grace)")
	eventually(t, "replaced", func() bool { return len(farm.all()) == 3 && p.Stats().Ready == 2 })
}

// Calls that never ran go to another worker, idempotent or not: refused after $stop
// (ErrStopping), or not sent because the worker was ended between being chosen and being
// sent the call (ErrClosed: another call's timeout terminated it, a recycle closed it).
func TestCallsThatNeverRanGoElsewhere(t *testing.T) {
	for name, refusal := range map[string]func(method string) error{
		"stopping": func(method string) error {
			return &RemoteError{Method: method, Type: protocol.TypeStopping, Message: "arrived after $stop"}
		},
		"closed": func(string) error { return ErrClosed },
	} {
		t.Run(name, func(t *testing.T) {
			clk := newFakeClock()
			var refusingPid atomic.Int64
			farm := &fakeFarm{behave: func(ctx context.Context, w *fakeWorker, method string) (any, error) {
				if int64(w.pid) == refusingPid.Load() {
					return nil, refusal(method)
				}
				return w.pid, nil
			}}
			p := fakePool(t, clk, farm, WithWorkers(2))
			ws := farm.all()
			refusingPid.Store(int64(ws[0].pid))
			for i := 0; i < 10; i++ {
				var pid any
				require.NoError(t, p.Call(context.Background(), "x", nil, &pid), "not idempotent, yet sent again: it never ran")
				assert.Equal(t, ws[1].pid, pid)
			}
		})
	}
}

func TestDispatchPicksTheLeastBusyAndQueuesInOrder(t *testing.T) {
	clk := newFakeClock()
	release := make(chan struct{})
	farm := newGatedFarm(map[string]chan struct{}{"hold": release})
	p := fakePool(t, clk, farm.fakeFarm, WithWorkers(2), WithQueueSize(2), WithConcurrency(1))
	ctx := context.Background()
	held := make(chan any, 2)
	for i := 0; i < 2; i++ {
		go func() {
			var pid any
			_ = p.Call(ctx, "hold", nil, &pid)
			held <- pid
		}()
	}
	eventually(t, "both workers busy", func() bool {
		return p.Stats().Ready == 2 && p.Stats().Workers[0].InFlight+p.Stats().Workers[1].InFlight == 2
	})
	assert.Equal(t, 1, p.Stats().Workers[0].InFlight, "one call each")
	queued := make(chan error, 2)
	go func() { queued <- p.Call(ctx, "first", nil, nil) }()
	eventually(t, "one queued", func() bool { return p.Stats().Queued == 1 })
	go func() { queued <- p.Call(ctx, "second", nil, nil) }()
	eventually(t, "two queued", func() bool { return p.Stats().Queued == 2 })
	err := p.Call(ctx, "third", nil, nil)
	require.ErrorIs(t, err, ErrSaturated)
	assert.Contains(t, err.Error(), "all 2 workers are busy and 2 calls are queued")
	close(release)
	require.NoError(t, <-queued)
	require.NoError(t, <-queued)
	order := farm.order()
	assert.ElementsMatch(t, []string{"hold", "hold", "first", "second"}, order)
	assert.Equal(t, []string{"hold", "hold"}, order[:2])
	assert.NotEqual(t, <-held, <-held, "the two held calls ran on two workers")

	// With one worker taking one call at a time, queued calls run oldest first.
	gate := make(chan struct{})
	farm1 := newGatedFarm(map[string]chan struct{}{"hold": gate})
	p1 := fakePool(t, newFakeClock(), farm1.fakeFarm, WithWorkers(1), WithConcurrency(1))
	go func() { _ = p1.Call(ctx, "hold", nil, nil) }()
	eventually(t, "the worker busy", func() bool { return p1.Stats().Workers[0].InFlight == 1 })
	res := make(chan error, 3)
	for i, m := range []string{"a", "b", "c"} {
		go func() { res <- p1.Call(ctx, m, nil, nil) }()
		eventually(t, "queued", func() bool { return p1.Stats().Queued == i+1 })
	}
	close(gate)
	for i := 0; i < 3; i++ {
		require.NoError(t, <-res)
	}
	assert.Equal(t, []string{"hold", "a", "b", "c"}, farm1.order())
}

func TestShutdownDrainsThenStopsEveryWorker(t *testing.T) {
	clk := newFakeClock()
	release := make(chan struct{})
	farm := &fakeFarm{behave: func(ctx context.Context, w *fakeWorker, method string) (any, error) {
		<-release
		return "done", nil
	}}
	p := fakePool(t, clk, farm, WithWorkers(2))
	res := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() { res <- p.Call(context.Background(), "x", nil, nil) }()
	}
	eventually(t, "two calls in flight", func() bool {
		return p.Stats().Workers[0].InFlight+p.Stats().Workers[1].InFlight == 2
	})
	closed := make(chan error, 1)
	go func() { closed <- p.Shutdown(context.Background()) }()
	eventually(t, "new calls refused while draining", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		return errors.Is(p.Call(ctx, "x", nil, nil), ErrClosed)
	})
	for _, w := range farm.all() {
		assert.False(t, w.stopped.Load(), "no worker stops while its call runs")
	}
	close(release)
	require.NoError(t, <-res)
	require.NoError(t, <-res)
	require.NoError(t, <-closed)
	for _, w := range farm.all() {
		assert.True(t, w.stopped.Load(), "every worker got a graceful stop")
	}
}

func TestReloadReplacesEveryWorkerWithNoFailedCall(t *testing.T) {
	clk, farm := newFakeClock(), &fakeFarm{}
	p := fakePool(t, clk, farm, WithWorkers(3))
	before := currentPids(p)
	stop := make(chan struct{})
	var failed atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := p.Call(context.Background(), "x", nil, nil); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	require.NoError(t, p.Reload(context.Background()))
	close(stop)
	wg.Wait()
	assert.Zero(t, failed.Load())
	after := currentPids(p)
	for i := range before {
		assert.NotEqual(t, before[i], after[i])
	}
	for _, w := range farm.all()[:3] {
		assert.True(t, w.stopped.Load(), "old workers stopped gracefully")
	}
}

func TestPoolOptionsAreValidatedTogether(t *testing.T) {
	_, err := NewPool(context.Background(), []string{"x"}, WithWorkers(0), WithExecTimeout(-time.Second), WithGracePeriods(0, time.Second))
	require.ErrorIs(t, err, ErrInvalidOption)
	for _, want := range []string{"WithWorkers: 0 is less than 1", "WithExecTimeout: -1s is negative", "WithGracePeriods"} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = Start(context.Background(), []string{"x"}, WithWorkers(2))
	requireContains(t, err, "WithWorkers: applies to a Pool, not to a Process")
	_, err = NewPool(context.Background(), nil)
	requireContains(t, err, "the command is empty")
}

func TestAWorkerThatWasWorkingIsRestartedAtOnceAndNeverCountsTowardACrashLoop(t *testing.T) {
	clk, farm := newFakeClock(), &fakeFarm{}
	p := fakePool(t, clk, farm, WithWorkers(1), WithCrashLoop(1, time.Hour),
		WithRestartBackoff(time.Second, time.Minute, time.Hour))
	for i := 0; i < 5; i++ {
		for j := 0; j < healthyJobs; j++ {
			require.NoError(t, p.Call(context.Background(), "x", nil, nil))
		}
		n := len(farm.all())
		farm.last().crash(137) // killed after it answered its calls
		eventually(t, "restarted at once, no backoff", func() bool { return len(farm.all()) == n+1 && p.Stats().Ready == 1 })
	}
	assert.False(t, p.Stats().CrashLooping)
	assert.Equal(t, 5, p.Stats().Workers[0].Restarts)
}

// A call whose context ends while no worker is ready (the only one is restarting, and its
// start hangs) says so, with the last failure: it said "no worker was free", which sends
// the reader looking at the load instead of at the workers.
func TestACallThatFindsNoReadyWorkerSaysWhy(t *testing.T) {
	clk, farm := newFakeClock(), &fakeFarm{}
	var starts atomic.Int32
	starter := func(ctx context.Context, name string) (worker, error) {
		if starts.Add(1) > 1 { // the restart hangs, as a child that never sends $ready does
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return farm.start(ctx, name)
	}
	p, err := NewPool(context.Background(), []string{"fake"}, withClock(clk), withStarter(starter), WithWorkers(1))
	require.NoError(t, err)
	t.Cleanup(p.Kill)
	farm.last().crash(7)
	eventually(t, "the worker restarting", func() bool { return starts.Load() == 2 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = p.Call(ctx, "x", nil, nil)
	require.ErrorIs(t, err, ErrSaturated)
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "no worker was ready (1 of 1 starting, 0 waiting to restart after a failure)")
	assert.Contains(t, err.Error(), "status 7")
	assert.NotContains(t, err.Error(), "no worker was free")
}
