package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Shutdown paths under hostile host code: handlers that are slow, stuck, or that stop the
// very child or pool whose message they handle.

// returnsWithin runs fn and fails the test if it has not returned after d. It bounds a wait
// that used to be endless; it is not a speed assertion.
func returnsWithin(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s had not returned after %v", what, d)
	}
}

// gated is an OnMessage listener stuck until release, counting the messages it got.
type gated struct {
	gate    chan struct{}
	once    sync.Once
	handled atomic.Int64
}

func newGated() *gated { return &gated{gate: make(chan struct{})} }

func (g *gated) listen(any) {
	<-g.gate
	g.handled.Add(1)
}

func (g *gated) release() { g.once.Do(func() { close(g.gate) }) }

// A child that floods messages and exits while the host's listener is stuck: Kill drops
// what is left and Wait returns. Wait used to wait for the listener to work through the
// whole backlog (22 s for 20,000 messages at 1 ms each; for ever with a stuck listener).
func TestKillDropsWhatTheHostHasNotHandled(t *testing.T) {
	checkNoLeaks(t)
	const n = 3000
	g := newGated()
	defer g.release()
	p, err := Start(context.Background(), child("flood_exit", "3000"), WithStderr(nil), OnMessage(g.listen))
	require.NoError(t, err)
	<-p.Exited()
	returnsWithin(t, 10*time.Second, "Kill and Wait", func() {
		require.NoError(t, p.Kill())
		require.NoError(t, p.Wait())
	})
	g.release()
	// The one listener that was running finishes; the rest was dropped.
	time.Sleep(100 * time.Millisecond)
	require.Less(t, g.handled.Load(), int64(n))
}

// The same through a pool: Pool.Kill returns while a dead worker's messages wait for a stuck
// listener. It used to wait for them all (54 s in a probe, for ever with a stuck listener).
func TestPoolKillDropsWhatTheHostHasNotHandled(t *testing.T) {
	checkNoLeaks(t)
	g := newGated()
	defer g.release()
	p, err := NewPool(context.Background(), child("flood_exit_once", filepath.Join(t.TempDir(), "f"), "3000"),
		WithWorkers(1), WithStderr(nil), OnMessage(g.listen))
	require.NoError(t, err)
	first := p.Stats().Workers[0].Pid
	eventually(t, "the first worker replaced", func() bool {
		w := p.Stats().Workers[0]
		return w.State == "ready" && w.Pid != first
	})
	returnsWithin(t, 10*time.Second, "Pool.Kill", p.Kill)
}

// Close is bounded by the grace periods, the handling of what the child sent included.
func TestCloseIsBoundedByTheGracePeriodsDespiteAStuckListener(t *testing.T) {
	checkNoLeaks(t)
	g := newGated()
	defer g.release()
	p, err := Start(context.Background(), child("flood_exit", "3000"), WithStderr(nil), OnMessage(g.listen),
		WithGracePeriods(200*time.Millisecond, 200*time.Millisecond))
	require.NoError(t, err)
	<-p.Exited()
	returnsWithin(t, 10*time.Second, "Close", func() { require.NoError(t, p.Close()) })
}

// A Shutdown whose context ends returns then, whatever the listeners do.
func TestShutdownReturnsAtItsContextsEndDespiteAStuckListener(t *testing.T) {
	checkNoLeaks(t)
	g := newGated()
	defer g.release()
	p, err := Start(context.Background(), child("flood_exit", "3000"), WithStderr(nil), OnMessage(g.listen))
	require.NoError(t, err)
	<-p.Exited()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	returnsWithin(t, 10*time.Second, "Shutdown", func() {
		require.ErrorIs(t, p.Shutdown(ctx), context.DeadlineExceeded)
	})
}

// Pool.Close with a stuck listener returns within the workers' grace periods, far before
// its drain timeout.
func TestPoolCloseIsBoundedDespiteAStuckListener(t *testing.T) {
	checkNoLeaks(t)
	g := newGated()
	defer g.release()
	p, err := NewPool(context.Background(), child("flood_exit_once", filepath.Join(t.TempDir(), "f"), "3000"),
		WithWorkers(1), WithStderr(nil), OnMessage(g.listen), WithGracePeriods(200*time.Millisecond, 200*time.Millisecond))
	require.NoError(t, err)
	first := p.Stats().Workers[0].Pid
	eventually(t, "the first worker replaced", func() bool {
		w := p.Stats().Workers[0]
		return w.State == "ready" && w.Pid != first
	})
	returnsWithin(t, 10*time.Second, "Pool.Close", func() { _ = p.Close() })
}

// A listener that stops its own child (Close, or Kill then Wait) does not deadlock: Close
// waited for the child's end, which waited for that very listener, for ever.
func TestAListenerThatStopsItsOwnChild(t *testing.T) {
	for _, how := range []string{"Close", "Kill"} {
		t.Run(how, func(t *testing.T) {
			checkNoLeaks(t)
			var p *Process
			ready := make(chan struct{})
			returned := make(chan error, 1)
			var err error
			p, err = Start(context.Background(), child("serve"), WithStderr(nil),
				WithGracePeriods(200*time.Millisecond, 200*time.Millisecond),
				OnMessage(func(any) {
					<-ready
					if how == "Close" {
						returned <- p.Close()
						return
					}
					_ = p.Kill()
					returned <- p.Wait()
				}))
			require.NoError(t, err)
			close(ready)
			require.NoError(t, p.Send(context.Background(), "stop yourself")) // the child echoes it
			select {
			case <-returned:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s from the child's own listener had not returned after 10 s", how)
			}
			<-p.Done()
		})
	}
}

// The same with a pool: a listener that closes or kills its own pool.
func TestAListenerThatStopsItsOwnPool(t *testing.T) {
	for _, how := range []string{"Close", "Kill"} {
		t.Run(how, func(t *testing.T) {
			checkNoLeaks(t)
			var p *Pool
			ready := make(chan struct{})
			returned := make(chan struct{})
			var once sync.Once
			var err error
			p, err = NewPool(context.Background(), child("serve"), WithWorkers(2), WithStderr(nil),
				WithGracePeriods(200*time.Millisecond, 200*time.Millisecond),
				OnMessage(func(any) {
					<-ready
					once.Do(func() {
						if how == "Close" {
							_ = p.Close()
						} else {
							p.Kill()
						}
						close(returned)
					})
				}))
			require.NoError(t, err)
			close(ready)
			require.NoError(t, p.Send(context.Background(), "stop the pool")) // the worker echoes it
			select {
			case <-returned:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s from the pool's own listener had not returned after 10 s", how)
			}
			p.Kill()
		})
	}
}

// Conn.Close drops what waits for a handler and does not wait for a notification handler
// that never returns, as it never waited for request handlers. It waited for it for ever.
func TestConnCloseDoesNotWaitForAStuckNotificationHandler(t *testing.T) {
	checkNoLeaks(t)
	forEachTransport(t, func(t *testing.T, tr transport) {
		g := newGated()
		defer g.release()
		got := make(chan struct{}, 10)
		host, child := pair(t, tr, []Option{OnMessage(func(v any) {
			got <- struct{}{}
			g.listen(v)
		})}, nil)
		for i := 0; i < 5; i++ {
			require.NoError(t, child.Send(context.Background(), i))
		}
		<-got
		returnsWithin(t, 10*time.Second, "Conn.Close", func() { require.NoError(t, host.Close()) })
		g.release()
		time.Sleep(50 * time.Millisecond)
		require.Less(t, g.handled.Load(), int64(5), "the messages waiting behind the stuck handler are dropped")
	})
}

// A host handler serving a worker's call that calls the pool back, with the context it was
// given, while every worker is busy with such a call: the call goes to the worker that waits
// for it. It waited in the pool's queue behind the very calls that waited for it, until the
// callers' contexts ended.
func TestAHandlerThatCallsItsOwnPoolBackIsServed(t *testing.T) {
	for _, opts := range [][]Option{{}, {WithConcurrency(1)}} {
		checkNoLeaks(t)
		var p *Pool
		var err error
		p, err = NewPool(context.Background(), child("serve"), append(opts, WithWorkers(2), WithStderr(nil),
			WithHandler("nested", func(ctx context.Context, a Args) (any, error) {
				var v any
				err := p.Call(ctx, "echo", []any{"back"}, &v)
				return v, err
			}))...)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var out any
				assert.NoError(t, p.Call(ctx, "call_host", []any{"nested", []any{}}, &out))
				assert.Equal(t, "back", out)
			}()
		}
		wg.Wait()
		cancel()
		require.NoError(t, p.Close())
	}
}

// Handlers that call runtime.Goexit, as t.FailNow (a require in a test's handler) does.
// A listener's Goexit ended the goroutine that runs listeners: no later message was ever
// handled. A request handler's left the child's call unanswered for ever, and Close then
// blamed the child ("it closed its channel but kept running").
func TestHandlersThatCallGoexit(t *testing.T) {
	checkNoLeaks(t)
	var handled atomic.Int64
	p := start(t, child("serve"),
		OnMessage(func(any) {
			if handled.Add(1) == 1 {
				runtime.Goexit()
			}
		}),
		WithHandler("goexit", func(context.Context, Args) (any, error) { runtime.Goexit(); return nil, nil }),
		WithHandler("ok", func(context.Context, Args) (any, error) { return "ok", nil }))
	for i := 0; i < 5; i++ {
		require.NoError(t, p.Send(context.Background(), i)) // the child sends each back
	}
	eventually(t, "every message handled", func() bool { return handled.Load() == 5 })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var re *RemoteError
	err := p.Call(ctx, "call_host", []any{"goexit", []any{}}, nil)
	require.ErrorAs(t, err, &re, "the child's call to the host is answered")
	require.Contains(t, re.Message, "runtime.Goexit")
	var out string
	require.NoError(t, p.Call(ctx, "call_host", []any{"ok", []any{}}, &out))
	require.Equal(t, "ok", out)
	require.NoError(t, p.Close())
}

// While a pool drains, a call in flight whose host handler calls the pool back still
// finishes: the drain waits for it, and the worker waiting for the handler takes the call
// back. It failed with ErrClosed, as a new call does.
func TestADrainingPoolServesTheCallsBackOfItsCallsInFlight(t *testing.T) {
	checkNoLeaks(t)
	var p *Pool
	var err error
	started, proceed := make(chan struct{}), make(chan struct{})
	p, err = NewPool(context.Background(), child("serve"), WithWorkers(2), WithStderr(nil),
		WithHandler("nested", func(ctx context.Context, a Args) (any, error) {
			close(started)
			<-proceed
			var v any
			err := p.Call(ctx, "echo", []any{"back"}, &v)
			return v, err
		}))
	require.NoError(t, err)
	res := make(chan error, 1)
	var out any
	go func() { res <- p.Call(context.Background(), "call_host", []any{"nested", []any{}}, &out) }()
	<-started
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	eventually(t, "the pool refuses new calls", func() bool {
		return errors.Is(p.Call(context.Background(), "echo", []any{1}, nil), ErrClosed)
	})
	close(proceed)
	require.NoError(t, <-res)
	require.Equal(t, "back", out)
	require.NoError(t, <-closed)
}

// Limit: a handler serving the child's call that closes that same child waits for itself:
// Close waits for the child's calls to the host to be answered before it closes the
// child's input, and this one is answered only when Close returns. The first grace period
// ends the wait: the child's input closes and SIGTERM follows at once, so Close returns the
// child's *ExitError (SIGTERM), or nil when the child took the end of its input and exited
// first (1 run in 10 under -race here). `go p.Close()` does not wait, and lets the child
// stop cleanly.
func TestLimitAHandlerThatClosesTheChildItServes(t *testing.T) {
	checkNoLeaks(t)
	var p *Process
	closed := make(chan error, 1)
	ready := make(chan struct{})
	var err error
	p, err = Start(context.Background(), child("serve"), WithStderr(nil),
		WithGracePeriods(200*time.Millisecond, 200*time.Millisecond),
		WithHandler("close", func(context.Context, Args) (any, error) {
			<-ready
			closed <- p.Close()
			return nil, nil
		}))
	require.NoError(t, err)
	close(ready)
	t0 := time.Now()
	go func() { _ = p.Call(context.Background(), "call_host", []any{"close", []any{}}, nil) }()
	select {
	case err := <-closed:
		require.GreaterOrEqual(t, time.Since(t0), 200*time.Millisecond, "the grace period ended the wait")
		if err != nil {
			var ee *ExitError
			require.ErrorAs(t, err, &ee)
			require.Equal(t, syscall.SIGTERM, ee.Signal)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close from a handler of the child's own call had not returned after 10 s")
	}
	<-p.Done()
}

// A host handler serving a worker's call may reload the pool with its context: Reload
// replaces every worker and returns, the worker whose call waits for the handler stopping
// once the handler has answered. It waited for that worker to stop, which it could not
// before the handler returned: until the context ended (for ever without a deadline).
func TestAHandlerMayReloadItsPool(t *testing.T) {
	checkNoLeaks(t)
	var p *Pool
	var err error
	p, err = NewPool(context.Background(), child("serve"), WithWorkers(2), WithStderr(nil),
		WithHandler("reload", func(ctx context.Context, a Args) (any, error) {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second) // bounds the old code's wait
			defer cancel()
			return "reloaded", p.Reload(ctx)
		}))
	require.NoError(t, err)
	defer p.Kill()
	before := map[int]bool{}
	for _, w := range p.Stats().Workers {
		before[w.Pid] = true
	}
	var out string
	require.NoError(t, p.Call(context.Background(), "call_host", []any{"reload", []any{}}, &out))
	require.Equal(t, "reloaded", out)
	for _, w := range p.Stats().Workers {
		require.False(t, before[w.Pid], "worker %d was not replaced", w.Pid)
	}
	require.NoError(t, p.Close())
}

// Limit: a host handler serving a worker's call that closes the pool waits for the drain
// of the very call that waits for it: the drain timeout ends the wait, the workers are
// killed and Close returns the timeout. `go p.Close()` does not wait.
func TestLimitAHandlerThatClosesThePoolItServes(t *testing.T) {
	checkNoLeaks(t)
	var p *Pool
	closed := make(chan error, 1)
	ready := make(chan struct{})
	var err error
	p, err = NewPool(context.Background(), child("serve"), WithWorkers(1), WithStderr(nil),
		WithDrainTimeout(300*time.Millisecond),
		WithHandler("close", func(context.Context, Args) (any, error) {
			<-ready
			closed <- p.Close()
			return nil, nil
		}))
	require.NoError(t, err)
	close(ready)
	go func() { _ = p.Call(context.Background(), "call_host", []any{"close", []any{}}, nil) }()
	select {
	case err := <-closed:
		require.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(10 * time.Second):
		t.Fatal("Close from a handler of a worker's call had not returned after 10 s")
	}
}

// stuckWriter is a stderr sink that never returns until released, like a pipe to a log
// collector that stopped reading.
type stuckWriter struct{ gate chan struct{} }

func (w stuckWriter) Write(p []byte) (int, error) { <-w.gate; return len(p), nil }

// A stderr writer or log function of the host that blocks does not hold Kill, Close or
// Wait: the relay stuck in it is not waited for past a bound. They waited for it for ever.
func TestAStuckStderrSinkDoesNotHoldTheEnd(t *testing.T) {
	for _, how := range []string{"Kill", "Close", "LogFunc"} {
		t.Run(how, func(t *testing.T) {
			checkNoLeaks(t)
			gate := make(chan struct{})
			defer close(gate) // the relay returns, after the test's wait
			sink := WithStderr(stuckWriter{gate})
			if how == "LogFunc" {
				sink = WithLogFunc(func(LogLine) { <-gate })
			}
			p, err := Start(context.Background(), child("serve"), sink,
				WithGracePeriods(200*time.Millisecond, 200*time.Millisecond))
			require.NoError(t, err)
			var ok bool
			require.NoError(t, p.Call(context.Background(), "stderr", []any{"a line nobody takes"}, &ok))
			returnsWithin(t, 10*time.Second, how, func() {
				if how == "Kill" {
					require.NoError(t, p.Kill())
					_ = p.Wait()
				} else {
					_ = p.Close()
				}
			})
		})
	}
}

// A handler serving a worker's call that shuts its pool down with its own context (no
// deadline) is refused at once, naming the worker: the drain would wait for that call,
// which waits for the handler, and the handler's context ends only with the session. It
// waited for ever. With a deadline, Shutdown runs and returns at it.
func TestAHandlerThatShutsItsPoolDownWithItsContext(t *testing.T) {
	checkNoLeaks(t)
	var p *Pool
	got := make(chan error, 1)
	ready := make(chan struct{})
	var err error
	p, err = NewPool(context.Background(), child("serve"), WithWorkers(1), WithStderr(nil),
		WithHandler("shutdown", func(ctx context.Context, a Args) (any, error) {
			<-ready
			if a.Len() > 0 {
				bounded, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
				defer cancel()
				ctx = bounded
			}
			got <- p.Shutdown(ctx)
			return nil, nil
		}))
	require.NoError(t, err)
	defer p.Kill()
	close(ready)
	pid := p.Stats().Workers[0].Pid

	go func() { _ = p.Call(context.Background(), "call_host", []any{"shutdown", []any{}}, nil) }()
	select {
	case err := <-got:
		require.Error(t, err)
		assert.Contains(t, err.Error(), fmt.Sprintf("the context of a host handler serving a call of the pool's worker (pid %d), which has no deadline", pid))
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown from a handler with its context had not returned after 10 s")
	}
	require.NoError(t, p.Call(context.Background(), "call_host", []any{"shutdown", []any{}}, nil), "the pool still serves")
	require.Error(t, <-got, "refused again")

	go func() { _ = p.Call(context.Background(), "call_host", []any{"shutdown", []any{true}}, nil) }()
	select {
	case err := <-got:
		require.ErrorIs(t, err, context.DeadlineExceeded, "with a deadline, Shutdown runs until it")
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown from a handler with a deadline had not returned after 10 s")
	}
}

// A WithLogFunc function or WithStderr writer that panics ended the host: it runs on the
// relay's goroutine, where no recover of the caller's reaches. The panic is now logged once,
// the child's later lines are kept for error messages only, and the session goes on.
func TestAPanickingOutputSinkDoesNotEndTheHost(t *testing.T) {
	for _, how := range []string{"LogFunc", "Stderr"} {
		t.Run(how, func(t *testing.T) {
			checkNoLeaks(t)
			sink := WithLogFunc(func(LogLine) { panic("a sink that panics") })
			if how == "Stderr" {
				sink = WithStderr(panickingWriter{})
			}
			var logs syncBuffer
			p, err := Start(context.Background(), child("serve"), sink, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			require.NoError(t, err)
			ctx := context.Background()
			var ok bool
			for i := range 3 {
				require.NoError(t, p.Call(ctx, "stderr", []any{fmt.Sprintf("line %d", i)}, &ok))
			}
			var v string
			require.NoError(t, p.Call(ctx, "echo", []any{"still here"}, &v))
			assert.Equal(t, "still here", v)
			require.NoError(t, p.Close())
			assert.Equal(t, 1, strings.Count(logs.String(), "panicked"), logs.String())
			assert.Contains(t, logs.String(), "a sink that panics")
		})
	}
}

type panickingWriter struct{}

func (panickingWriter) Write([]byte) (int, error) { panic("a sink that panics") }

// ConsoleOptions.OnStart that panics ended the host when a pool started a worker (it runs
// on the pool's goroutine). The start now fails with the panic's value, and nothing is
// left running.
func TestAPanickingOnStartFailsTheStart(t *testing.T) {
	checkNoLeaks(t)
	opt := WithConsole(ConsoleOptions{OnStart: func(*Console) { panic("OnStart fails") }})
	_, err := Start(context.Background(), child("console"), opt)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ConsoleOptions.OnStart panicked: OnStart fails")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = NewPool(ctx, child("console"), opt, WithWorkers(1), WithStderr(nil))
	require.Error(t, err)
}
