package bridge

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A slow answer that held other calls up teaches the pool that its method is slow; one
// that held nothing up (a lone call) does not, and quick answers make it forget.
func TestAPoolLearnsWhichMethodsBlockAWorker(t *testing.T) {
	clk := newFakeClock()
	var serial sync.Mutex // the worker runs one call at a time, as a Python or PHP child does
	gate, behind := make(chan struct{}), make(chan struct{})
	farm := &fakeFarm{behave: func(ctx context.Context, w *fakeWorker, method string) (any, error) {
		switch method {
		case "lone":
			clk.Advance(time.Second)
		case "slow":
			<-gate
		case "behind":
			<-behind
		}
		serial.Lock()
		defer serial.Unlock()
		return w.pid, nil
	}}
	p := fakePool(t, clk, farm, WithWorkers(1))
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		require.NoError(t, p.Call(ctx, "quick", nil, nil))
	}
	expected := func(m string) bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.slowness.expected(m)
	}
	require.NoError(t, p.Call(ctx, "lone", nil, nil))
	assert.False(t, expected("lone"), "a lone slow call held nothing up")

	done := make(chan error, 2)
	go func() { done <- p.Call(ctx, "slow", nil, nil) }()
	eventually(t, "the slow call running", func() bool { return p.Stats().Workers[0].InFlight == 1 })
	go func() { done <- p.Call(ctx, "behind", nil, nil) }()
	eventually(t, "a call behind it", func() bool { return p.Stats().Workers[0].InFlight == 2 })
	clk.Advance(time.Second)
	close(gate)
	eventually(t, "the slow call answered", func() bool { return p.Stats().Workers[0].InFlight == 1 })
	assert.Equal(t, 2, p.Stats().Workers[0].Window, "the window halved, from 5 (one and four quick answers)")
	close(behind)
	require.NoError(t, <-done)
	require.NoError(t, <-done)
	assert.True(t, expected("slow"), "a slow call held another up")
	assert.False(t, expected("behind"))
}

// A worker that runs calls concurrently (a Node child awaiting I/O) answers the calls sent
// after a slow one meanwhile: the slow one held nothing up, and its method is not learned.
func TestAConcurrentWorkerTeachesNoSlowness(t *testing.T) {
	clk := newFakeClock()
	gate := make(chan struct{})
	p := fakePool(t, clk, newGatedFarm(map[string]chan struct{}{"io": gate}).fakeFarm, WithWorkers(1))
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		require.NoError(t, p.Call(ctx, "quick", nil, nil))
	}
	done := make(chan error, 1)
	go func() { done <- p.Call(ctx, "io", nil, nil) }()
	eventually(t, "the io call running", func() bool { return p.Stats().Workers[0].InFlight == 1 })
	for i := 0; i < 3; i++ {
		require.NoError(t, p.Call(ctx, "quick", nil, nil), "answered while the io call runs")
	}
	clk.Advance(time.Second)
	close(gate)
	require.NoError(t, <-done)
	assert.Equal(t, 8, p.Stats().Workers[0].Window, "one and seven quick answers; the io answer kept the window")
	p.mu.Lock()
	defer p.mu.Unlock()
	assert.False(t, p.slowness.expected("io"))
	assert.Empty(t, p.slowness)
}

// A method expected to be slow runs alone on an idle worker: the worker takes no other call
// until it answers, so quick calls do not queue behind it in its input, even where the
// least busy worker would otherwise be that one; and while calls wait for a worker, quick
// ones go first.
func TestAMethodExpectedToBeSlowRunsAloneAndQuickCallsGoFirst(t *testing.T) {
	f := newSlowFixture(t, 2)
	p, farm, gates, async, inFlight := f.p, f.farm, f.gates, f.async, f.inFlight
	call := func(method string) int {
		pid, err := f.call(method)
		require.NoError(t, err)
		return pid
	}
	busy := func(n int) func() bool { return func() bool { return sum(inFlight()) == n } }
	async("hold")
	eventually(t, "a held call", busy(1))
	holdOn := 0
	for pid, n := range inFlight() {
		if n == 1 {
			holdOn = pid
		}
	}
	async("slow")
	eventually(t, "the slow call running", busy(2))
	assert.Equal(t, 1, inFlight()[holdOn], "the slow call went to the busy worker, not the idle one")
	async("hold")
	eventually(t, "two held calls", busy(3))
	assert.Equal(t, 2, inFlight()[holdOn], "a held call went to the worker running the slow one")
	// The least busy worker runs the slow call, but quick calls go to the other.
	for i := 0; i < 5; i++ {
		assert.Equal(t, holdOn, call("quick"), "a quick call went to the worker running a slow one")
	}
	for _, w := range p.Stats().Workers {
		if w.Pid != holdOn {
			assert.Equal(t, 1, w.Window, "the worker running a slow call takes nothing else")
		}
	}

	// A second slow call waits for an idle worker; a quick call does not wait behind it.
	async("slow")
	eventually(t, "the second slow call waiting", func() bool { return p.Stats().Queued == 1 })
	assert.Equal(t, holdOn, call("quick"))
	assert.Equal(t, 1, p.Stats().Queued)
	close(gates["hold"])
	eventually(t, "the second slow call running", func() bool {
		m := inFlight()
		return p.Stats().Queued == 0 && m[holdOn] == 1 && sum(m) == 2
	})

	// Both workers run a slow call: a quick call and a third slow one wait; when a worker
	// frees up, the quick call goes first though it came later.
	async("slow")
	eventually(t, "a slow call waiting", func() bool { return p.Stats().Queued == 1 })
	quick := make(chan error, 1)
	go func() {
		_, err := f.call("quick")
		quick <- err
	}()
	eventually(t, "a quick call waiting too", func() bool { return p.Stats().Queued == 2 })
	farm.order()                // forget the calls started so far
	gates["slow"] <- struct{}{} // one of the two running slow calls answers
	require.NoError(t, <-quick)
	close(gates["slow"])
	f.wg.Wait()
	started := farm.order()
	assert.Equal(t, "quick", started[0], "the order calls started in once a worker was free: %v", started)
}

// A call expected to be slow lets quick calls go first for about as long as such a call
// takes; then a worker is emptied for it, and it runs there before the quick calls.
func TestASlowCallWaitsForQuickOnesOnlySoLong(t *testing.T) {
	clk := newFakeClock()
	gate := make(chan struct{})
	farm := newGatedFarm(map[string]chan struct{}{"hold": gate})
	p := fakePool(t, clk, farm.fakeFarm, WithWorkers(1))
	eventually(t, "the worker ready", func() bool { return p.Stats().Ready == 1 })
	p.mu.Lock()
	p.slowness.observe("slow", true)
	p.mu.Unlock()
	ctx := context.Background()
	held := make(chan error, 1)
	go func() { held <- p.Call(ctx, "hold", nil, nil) }() // window 1: the worker is full
	eventually(t, "the worker busy", func() bool { return p.Stats().Workers[0].InFlight == 1 })
	res := make(chan error, 2)
	go func() { res <- p.Call(ctx, "slow", nil, nil) }()
	eventually(t, "the slow call waiting", func() bool { return p.Stats().Queued == 1 })
	p.mu.Lock()
	yield := p.slowness.yield("slow")
	p.mu.Unlock()
	assert.Equal(t, slowFloor, yield, "no slow call has run yet: the least")
	clk.Advance(yield + time.Millisecond)
	go func() { res <- p.Call(ctx, "quick", nil, nil) }()
	eventually(t, "the quick call waiting", func() bool { return p.Stats().Queued == 2 })
	close(gate)
	require.NoError(t, <-held)
	require.NoError(t, <-res)
	require.NoError(t, <-res)
	assert.Equal(t, []string{"hold", "slow", "quick"}, farm.order())
}

// A slow call that has waited its turn does not take the last worker free of slow calls
// while quick calls wait: with one worker running a slow call and the other freed, the
// quick calls get the freed worker, and the slow call waits for an idle worker with no
// quick call waiting. (When slow calls were due one after the other, they took every worker
// in turn and quick calls waited for them: under the mixed workload, 1% of quick calls
// waited half a second.)
func TestDueSlowCallsLeaveAWorkerToTheQuickOnes(t *testing.T) {
	f := newSlowFixture(t, 2)
	p, clk, farm, gates, async := f.p, f.clk, f.farm, f.gates, f.async
	p.mu.Lock()
	for _, s := range p.slots {
		s.current.gap = time.Second // a held call counts as slow only after 8 s
	}
	p.mu.Unlock()
	call := func(method string) error {
		_, err := f.call(method)
		return err
	}
	queued := func(n int) func() bool { return func() bool { return p.Stats().Queued == n } }
	inFlight := func() int { return sum(f.inFlight()) }
	async("slow") // on one worker (A), until the end
	eventually(t, "a slow call running", func() bool { return inFlight() == 1 })
	async("hold") // on the other (B)
	eventually(t, "a held call", func() bool { return inFlight() == 2 })
	async("slow") // no idle worker: it waits
	eventually(t, "a second slow call waiting", queued(1))
	clk.Advance(time.Second) // long past its turn (10 ms: no slow call has answered yet)
	require.NoError(t, call("quick"), "B has room")
	quick := make(chan error, 1)
	go func() { quick <- call("quick") }()
	eventually(t, "a quick call waiting behind the due slow one", queued(2))
	farm.order()
	close(gates["hold"]) // B frees up: the quick call takes it, not the slow one
	require.NoError(t, <-quick, "the quick call waited for a slow one")
	eventually(t, "then the slow call on B", func() bool {
		farm.mu.Lock()
		defer farm.mu.Unlock()
		return len(farm.started) == 2
	})
	assert.Equal(t, []string{"quick", "slow"}, farm.order())
	close(gates["slow"])
	f.wg.Wait()
}

// slowFixture is a pool of fake workers that expects "slow" to be slow, as after
// TestAPoolLearnsWhichMethodsBlockAWorker, with windows of 8, as after many quick answers.
// Calls of "slow" and "hold" wait for their gates.
type slowFixture struct {
	t     *testing.T
	clk   *fakeClock
	farm  *gatedFarm
	gates map[string]chan struct{}
	p     *Pool
	wg    sync.WaitGroup // the calls of async
}

func newSlowFixture(t *testing.T, workers int) *slowFixture {
	f := &slowFixture{t: t, clk: newFakeClock(), gates: map[string]chan struct{}{"slow": make(chan struct{}), "hold": make(chan struct{})}}
	f.farm = newGatedFarm(f.gates)
	f.p = fakePool(t, f.clk, f.farm.fakeFarm, WithWorkers(workers))
	eventually(t, "the workers ready", func() bool { return f.p.Stats().Ready == workers })
	f.p.mu.Lock()
	f.p.slowness.observe("slow", true)
	for _, s := range f.p.slots {
		s.current.window = 8
	}
	f.p.mu.Unlock()
	return f
}

// call makes a call within 5 s, and returns the pid of the worker that answered: a quick
// call stuck behind a slow one fails the test instead of hanging it.
func (f *slowFixture) call(method string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var pid any
	if err := f.p.Call(ctx, method, nil, &pid); err != nil {
		return 0, err
	}
	return pid.(int), nil
}

// async makes a call on a goroutine of its own, which f.wg waits for.
func (f *slowFixture) async(method string) {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		assert.NoError(f.t, f.p.Call(context.Background(), method, nil, nil), method)
	}()
}

// inFlight is each worker's calls in flight, by pid.
func (f *slowFixture) inFlight() map[int]int {
	m := map[int]int{}
	for _, w := range f.p.Stats().Workers {
		m[w.Pid] = w.InFlight
	}
	return m
}

func sum(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// With WithConcurrency the window is fixed: calls expected to be slow do not change it.
func TestAFixedConcurrencyIgnoresSlowness(t *testing.T) {
	clk := newFakeClock()
	gate := make(chan struct{})
	p := fakePool(t, clk, newGatedFarm(map[string]chan struct{}{"slow": gate}).fakeFarm, WithWorkers(1), WithConcurrency(3))
	p.mu.Lock()
	p.slowness.observe("slow", true)
	p.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- p.Call(context.Background(), "slow", nil, nil) }()
	eventually(t, "the slow call running", func() bool { return p.Stats().Workers[0].InFlight == 1 })
	require.NoError(t, p.Call(context.Background(), "quick", nil, nil), "the fixed window has room")
	close(gate)
	require.NoError(t, <-done)
}

func TestSlownessIsLearnedAndForgotten(t *testing.T) {
	var s slowness
	assert.False(t, s.expected("m"))
	s.observe("m", false)
	assert.Empty(t, s, "quick methods are not remembered")
	s.observe("m", true)
	assert.True(t, s.expected("m"), "one slow answer")
	s.observe("", true)
	assert.False(t, s.expected(""), "messages have no method")
	s.observe("m", false)
	assert.True(t, s.expected("m"), "one quick answer after a slow one: still expected slow")
	for i := 0; i < 3; i++ {
		s.observe("m", false)
	}
	assert.False(t, s.expected("m"), "quick again for a few answers")
	for i := 0; i < 20; i++ {
		s.observe("m", false)
	}
	assert.NotContains(t, s, "m", "forgotten")

	// How long a slow method lets quick calls go first: as long as it takes, within bounds.
	s.observe("long", true)
	assert.Equal(t, slowFloor, s.yield("long"))
	s.took("long", 100*time.Millisecond)
	assert.Equal(t, 100*time.Millisecond, s.yield("long"))
	s.took("long", time.Hour)
	assert.Equal(t, maxYield, s.yield("long"))
	s.took("quick", time.Hour) // not known to be slow: nothing to remember
	assert.NotContains(t, s, "quick")

	// At most maxSlowMethods methods are remembered; one that is no longer slow makes room.
	for i := 0; i < maxSlowMethods+10; i++ {
		s.observe(fmt.Sprint("m", i), true)
	}
	assert.Len(t, s, maxSlowMethods)
	s.observe("m0", false)
	s.observe("m0", false)
	s.observe("m0", false)
	s.observe("new", true)
	assert.True(t, s.expected("new"))
	assert.Len(t, s, maxSlowMethods)
}
