package bridge

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests run pools of real child processes (this test binary playing the child); the
// supervision and dispatch rules themselves are tested with fake workers and a fake clock
// in pool_test.go.

func newPool(t *testing.T, argv []string, opts ...Option) *Pool {
	t.Helper()
	opts = append([]Option{WithStderr(nil)}, opts...)
	p, err := NewPool(context.Background(), argv, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { p.Kill() })
	return p
}

func callPid(t *testing.T, p *Pool) int {
	t.Helper()
	var pid int
	require.NoError(t, p.Call(context.Background(), "pid", nil, &pid))
	return pid
}

func closePool(t *testing.T, p *Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, p.Shutdown(ctx))
}

func TestPoolSpreadsCalls(t *testing.T) {
	checkNoLeaks(t)
	p := newPool(t, child("serve"), WithWorkers(3), WithConcurrency(1))
	st := p.Stats()
	require.Len(t, st.Workers, 3)
	assert.Equal(t, 3, st.Ready)

	// Three calls held at once must run on three different workers.
	var wg sync.WaitGroup
	pids := make(chan int, 3)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got string
			require.NoError(t, p.Call(context.Background(), "sleep", []any{200}, &got))
		}()
	}
	eventually(t, "three calls in flight", func() bool {
		n := 0
		for _, w := range p.Stats().Workers {
			n += w.InFlight
			if w.InFlight > 1 {
				t.Errorf("worker %d holds %d calls with Concurrency 1", w.Index, w.InFlight)
			}
		}
		return n == 3
	})
	for _, w := range p.Stats().Workers {
		pids <- w.Pid
	}
	wg.Wait()
	close(pids)
	seen := map[int]bool{}
	for pid := range pids {
		seen[pid] = true
	}
	assert.Len(t, seen, 3)

	var jobs int64
	for _, w := range p.Stats().Workers {
		jobs += w.JobsDone
		assert.Greater(t, w.RSS, int64(0), "RSS is sampled")
	}
	assert.Equal(t, int64(3), jobs)
	closePool(t, p)
	assert.ErrorIs(t, p.Call(context.Background(), "pid", nil, nil), ErrClosed)
}

func TestPoolBroadcastAndSend(t *testing.T) {
	checkNoLeaks(t)
	got := make(chan any, 10)
	p := newPool(t, child("serve"), WithWorkers(3), OnMessage(func(v any) { got <- v }))
	require.NoError(t, p.Broadcast(context.Background(), "all"))
	for i := 0; i < 3; i++ {
		select {
		case v := <-got:
			assert.Equal(t, "all", v)
		case <-time.After(10 * time.Second):
			t.Fatal("a worker did not echo the broadcast")
		}
	}
	require.NoError(t, p.Send(context.Background(), "one"))
	assert.Equal(t, "one", <-got)
	closePool(t, p)
}

func TestPoolSurvivesRandomKills(t *testing.T) {
	checkNoLeaks(t)
	p := newPool(t, child("serve"), WithWorkers(3), WithRestartBackoff(10*time.Millisecond, 50*time.Millisecond, time.Second),
		WithCrashLoop(1000, time.Second))
	ctx := context.Background()
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var n int
				err := p.Call(ctx, "add", []any{1, 2}, &n)
				switch {
				case err == nil:
					require.Equal(t, 3, n)
					ok.Add(1)
				case errors.Is(err, ErrExited), errors.Is(err, ErrProtocol), errors.Is(err, ErrSaturated):
					failed.Add(1)
				default:
					t.Errorf("untyped error: %v", err)
				}
			}
		}()
	}
	deaths := 0
	killed := map[int]bool{} // a worker killed may be listed until the pool sees it exit: one death
	for i := 0; i < 8; i++ {
		time.Sleep(time.Duration(50+rand.IntN(100)) * time.Millisecond)
		var pids []int
		for _, w := range p.Stats().Workers {
			if w.Pid != 0 && !killed[w.Pid] {
				pids = append(pids, w.Pid)
			}
		}
		if len(pids) == 0 {
			continue
		}
		pid := pids[rand.IntN(len(pids))]
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
		killed[pid] = true
		deaths++
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		restarts := 0
		st := p.Stats()
		for _, w := range st.Workers {
			restarts += w.Restarts
		}
		if restarts == deaths && st.Ready == 3 {
			break
		}
		if time.Now().After(deadline) {
			close(stop)
			wg.Wait()
			t.Fatalf("not every slot restarted: %d deaths, stats %+v", deaths, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d calls answered, %d failed with a typed error, %d workers killed", ok.Load(), failed.Load(), deaths)
	assert.Greater(t, ok.Load(), int64(0))
	closePool(t, p)
}

func TestPoolCrashLoopFailsFastAndRecovers(t *testing.T) {
	checkNoLeaks(t)
	flag := filepath.Join(t.TempDir(), "broken")
	p := newPool(t, child("flaky", flag), WithWorkers(1),
		WithRestartBackoff(10*time.Millisecond, 100*time.Millisecond, time.Minute), WithCrashLoop(2, time.Minute))
	pid := callPid(t, p)

	// Break the command, then kill the worker: restarts fail until the pool crash-loops.
	require.NoError(t, os.WriteFile(flag, nil, 0o600))
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	eventually(t, "the pool reports a crash loop", func() bool { return p.Stats().CrashLooping })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := p.Call(ctx, "pid", nil, nil)
	require.ErrorIs(t, err, ErrCrashLooping)
	require.ErrorIs(t, err, ErrUnavailable)
	assert.NoError(t, ctx.Err(), "the call failed fast, not at its deadline")
	assert.Contains(t, err.Error(), "exited with status 2")
	assert.Contains(t, err.Error(), "refusing to start")

	// Fix the command: the pool recovers on its own.
	require.NoError(t, os.Remove(flag))
	eventually(t, "the pool recovers", func() bool { return p.Stats().Ready == 1 })
	assert.NotEqual(t, pid, callPid(t, p))
	assert.False(t, p.Stats().CrashLooping)
	closePool(t, p)
}

func TestPoolNoWorkerCanStart(t *testing.T) {
	checkNoLeaks(t)
	_, err := NewPool(context.Background(), child("die_before_ready"), WithWorkers(2), WithStderr(nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no worker of the pool could start")
	assert.Contains(t, err.Error(), "fatal: cannot load model")
	var ee *ExitError
	assert.ErrorAs(t, err, &ee)

	_, err = NewPool(context.Background(), child("serve"), WithWorkers(0), WithExecTimeout(-time.Second))
	requireContains(t, err, "WithWorkers: 0 is less than 1", "WithExecTimeout: -1s is negative")
}

func TestPoolSaturation(t *testing.T) {
	checkNoLeaks(t)
	p := newPool(t, child("serve"), WithWorkers(1), WithQueueSize(1), WithConcurrency(1))
	ctx := context.Background()
	running := make(chan error, 1)
	go func() { running <- p.Call(ctx, "sleep", []any{500}, nil) }()
	eventually(t, "one call running", func() bool { return p.Stats().Workers[0].InFlight == 1 })
	queued := make(chan error, 1)
	go func() { queued <- p.Call(ctx, "echo", []any{1}, nil) }()
	eventually(t, "one call queued", func() bool { return p.Stats().Queued == 1 })

	err := p.Call(ctx, "echo", []any{2}, nil)
	require.ErrorIs(t, err, ErrSaturated)
	assert.Contains(t, err.Error(), "all 1 workers are busy and 1 calls are queued")

	require.NoError(t, <-running)
	require.NoError(t, <-queued)

	// A queued call whose context ends is saturated too, and says so.
	go func() { running <- p.Call(ctx, "sleep", []any{500}, nil) }()
	eventually(t, "one call running", func() bool { return p.Stats().Workers[0].InFlight == 1 })
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err = p.Call(short, "echo", []any{3}, nil)
	require.ErrorIs(t, err, ErrSaturated)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, <-running)
	closePool(t, p)
}

func TestPoolConcurrencyPerWorker(t *testing.T) {
	checkNoLeaks(t)
	p := newPool(t, child("serve"), WithWorkers(1), WithConcurrency(4))
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, p.Call(context.Background(), "sleep", []any{300}, nil))
		}()
	}
	eventually(t, "four calls on one worker", func() bool { return p.Stats().Workers[0].InFlight == 4 })
	wg.Wait()
	closePool(t, p)
}

func TestPoolMaxJobsRecyclesWithoutFailures(t *testing.T) {
	checkNoLeaks(t)
	p := newPool(t, child("serve"), WithWorkers(1), WithMaxJobs(5))
	pids := map[int]int{}
	for i := 0; i < 40; i++ {
		pids[callPid(t, p)]++
	}
	assert.GreaterOrEqual(t, len(pids), 3, "recycled every 5 or 6 calls: %v", pids)
	for pid, n := range pids {
		assert.LessOrEqual(t, n, 6, "pid %d served %d calls", pid, n)
	}
	assert.Equal(t, 0, p.Stats().Workers[0].Restarts, "recycling is not a restart")
	closePool(t, p)
}

func TestPoolMaxLifetimeAndIdle(t *testing.T) {
	checkNoLeaks(t)
	p := newPool(t, child("serve"), WithWorkers(1), WithMaxLifetime(300*time.Millisecond))
	first := callPid(t, p)
	eventually(t, "recycled after its lifetime", func() bool { return callPid(t, p) != first })
	closePool(t, p)

	p = newPool(t, child("serve"), WithWorkers(1), WithMaxIdle(300*time.Millisecond))
	first = p.Stats().Workers[0].Pid
	eventually(t, "recycled when idle", func() bool {
		w := p.Stats().Workers[0]
		return w.Pid != 0 && w.Pid != first
	})
	closePool(t, p)
}

func TestPoolWithMaxRSS(t *testing.T) {
	checkNoLeaks(t)
	p := newPool(t, child("serve"), WithWorkers(1), WithMaxRSS(200<<20))
	pid := callPid(t, p)
	require.NoError(t, p.Call(context.Background(), "hog", []any{300}, nil))
	eventually(t, "recycled above its memory limit", func() bool {
		w := p.Stats().Workers[0]
		return w.Pid != 0 && w.Pid != pid
	})
	assert.Less(t, p.Stats().Workers[0].RSS, int64(200<<20))
	closePool(t, p)
}

func TestPoolExecTimeoutKillsOnlyThatWorker(t *testing.T) {
	checkNoLeaks(t)
	p := newPool(t, child("serve"), WithWorkers(2), WithExecTimeout(300*time.Millisecond))
	ctx := context.Background()
	// Hold one worker busy with a short call, time out on the other.
	var other int
	done := make(chan error, 1)
	go func() {
		var pid int
		err := p.Call(ctx, "pid", nil, &pid)
		other = pid
		done <- err
	}()
	require.NoError(t, <-done)
	start := p.Stats()
	err := p.Call(ctx, "sleep", []any{60000}, nil)
	require.ErrorIs(t, err, ErrExecTimeout)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "ran longer than 300ms")
	eventually(t, "the stuck worker replaced", func() bool {
		st := p.Stats()
		return st.Ready == 2 && st.Workers[0].Pid != 0 && st.Workers[1].Pid != 0 &&
			(st.Workers[0].Pid != start.Workers[0].Pid || st.Workers[1].Pid != start.Workers[1].Pid)
	})
	alivePids := 0
	for _, w := range start.Workers {
		if alive(w.Pid) {
			alivePids++
		}
	}
	assert.Equal(t, 1, alivePids, "exactly one of the two original workers was ended")
	_ = other
	closePool(t, p)
}

func TestPoolIdempotentRetry(t *testing.T) {
	checkNoLeaks(t)
	p := newPool(t, child("serve"), WithWorkers(2), WithRestartBackoff(10*time.Millisecond, 50*time.Millisecond, time.Second))
	ctx := context.Background()

	marker := filepath.Join(t.TempDir(), "first")
	err := p.Call(ctx, "crash_if_first", []any{marker}, nil)
	require.ErrorIs(t, err, ErrExited, "not idempotent: the death is reported")

	marker = filepath.Join(t.TempDir(), "second")
	var got string
	require.NoError(t, p.Call(ctx, "crash_if_first", []any{marker}, &got, Idempotent()))
	assert.Equal(t, "ok", got)
	closePool(t, p)
}

func TestPoolCloseDrainsAndReloadDropsNothing(t *testing.T) {
	checkNoLeaks(t)
	p := newPool(t, child("serve"), WithWorkers(2), WithConcurrency(2))
	ctx := context.Background()
	before := map[int]bool{}
	for _, w := range p.Stats().Workers {
		before[w.Pid] = true
	}

	var failures atomic.Int64
	var calls atomic.Int64
	stop := make(chan struct{})
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
				if err := p.Call(ctx, "sleep", []any{20}, nil); err != nil {
					t.Errorf("call failed during reload: %v", err)
					failures.Add(1)
				}
				calls.Add(1)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, p.Reload(rctx))
	close(stop)
	wg.Wait()
	assert.Zero(t, failures.Load())
	for _, w := range p.Stats().Workers {
		assert.False(t, before[w.Pid], "worker %d still runs the old process", w.Index)
	}

	// Close while calls run: they finish, later ones are refused.
	results := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() { results <- p.Call(ctx, "sleep", []any{300}, nil) }()
	}
	eventually(t, "calls in flight", func() bool {
		n := 0
		for _, w := range p.Stats().Workers {
			n += w.InFlight
		}
		return n == 4
	})
	closePool(t, p)
	for i := 0; i < 4; i++ {
		assert.NoError(t, <-results)
	}
	t.Logf("%d calls during reload", calls.Load())
}

// A pool whose start is given up on stops forking at once: a start still waiting for the
// forking thread is abandoned (a pool of 5,000 workers given 5 s took 63 s to return,
// forking and killing every worker still in line), and a context already done starts
// nothing.
func TestAGivenUpStartForksNoMore(t *testing.T) {
	checkNoLeaks(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cmd := exec.Command("/bin/true")
	err := startCmd(ctx, cmd)
	require.ErrorIs(t, err, context.Canceled)
	assert.Nil(t, cmd.Process, "not forked")

	dir := t.TempDir()
	_, err = NewPool(ctx, child("touch", dir), WithWorkers(20))
	require.ErrorIs(t, err, context.Canceled)
	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries, "no worker started")
}

// TestPoolRefusesMethodsNoHandlerCanHave: an empty method name or one starting with '$'
// (the protocol's) is refused before a worker is taken, as Notify refuses such names; it
// was sent to a worker and came back MethodNotFound, saying nothing of the name.
func TestPoolRefusesMethodsNoHandlerCanHave(t *testing.T) {
	p := newPool(t, child("serve"), WithWorkers(1))
	ctx := context.Background()
	for _, method := range []string{"", "$stop", "$ready"} {
		err := p.Call(ctx, method, nil, nil)
		require.ErrorIs(t, err, ErrUnsendable, "%q", method)
		assert.Contains(t, err.Error(), "must not be empty or start with '$'")
	}
	assert.Equal(t, int64(0), p.Stats().Workers[0].JobsDone, "no call reached a worker")
	callPid(t, p)
}
