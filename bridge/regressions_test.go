package bridge

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/polyfork/polyfork/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
	"golang.org/x/sys/unix"
)

// Faults a review of the rebuilt package found, each pinned by the test that showed it.

func TestCloseWritesEverySentMessageBeforeTheChildsInputEnds(t *testing.T) {
	checkNoLeaks(t)
	for round := 0; round < 3; round++ {
		var stderr syncBuffer
		p, err := Start(context.Background(), child("count_messages"), WithStderr(&stderr))
		require.NoError(t, err)
		const senders, each = 8, 50
		payload := strings.Repeat("x", 32<<10)
		var wg sync.WaitGroup
		var failed atomic.Int64
		for g := 0; g < senders; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					if p.Send(context.Background(), payload) != nil {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		require.Zero(t, failed.Load())
		require.NoError(t, p.Close(), "the child got whole frames and exited 0: %s", stderr.String())
		assert.Contains(t, stderr.String(), "got 400 messages", "every Send that returned nil arrived")
	}
}

func TestAHandlerThatSendsCannotDeadlockWithAChildThatWritesBeforeItReads(t *testing.T) {
	checkNoLeaks(t)
	var stderr syncBuffer
	var pp atomic.Pointer[Process]
	ready := make(chan struct{})
	p, err := Start(context.Background(), child("flood_no_read", "5000"), WithStderr(&stderr),
		OnMessage(func(v any) {
			<-ready
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = pp.Load().Send(ctx, v) // the echo of Node's fork pattern
		}))
	require.NoError(t, err)
	pp.Store(p)
	close(ready)
	eventually(t, "the child to write its whole burst (the host reads on while it has echoes to write)",
		func() bool { return strings.Contains(stderr.String(), "flood written") })
	p.Kill()
	p.Wait()
}

func TestACallWhoseWriteFailedStillHonoursItsContext(t *testing.T) {
	checkNoLeaks(t)
	p := start(t, child("close_stdin_stay"), WithGracePeriods(3*time.Second, time.Second))
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	begun := time.Now()
	err := p.Call(ctx, "echo", []any{1}, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(begun), 2*time.Second, "it returned at its context's end, not after the stop grace period")
}

func TestASendCutByItsContextSaysItMayStillArrive(t *testing.T) {
	toPeerR, toPeerW := io.Pipe()
	fromPeerR, fromPeerW := io.Pipe()
	c, err := NewConn(fromPeerR, toPeerW)
	require.NoError(t, err)
	defer c.Close()
	defer fromPeerW.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	sendErr := c.Send(ctx, "hello")
	require.ErrorIs(t, sendErr, context.DeadlineExceeded)
	require.ErrorIs(t, sendErr, ErrPartlySent, "io.Pipe has no write deadline: the frame goes on in the background")
	frame, err := protocol.NewFrameReader(toPeerR).ReadFrame()
	require.NoError(t, err)
	m, err := protocol.DecodeMessage(frame, 0)
	require.NoError(t, err)
	assert.Equal(t, protocol.MethodMessage, m.Method, "and it did arrive, as the error said it might")
}

// The calls sent to a worker with the one that timed out fail as having lost their worker,
// and say why, whether the worker dies of the SIGTERM or stops cleanly on it (exit 0, as a
// server with a SIGTERM handler does). They were sent, and may have run: never ErrClosed,
// which a pool or an agent takes as "not sent" and sends again.
//
// The call behind is sent once the worker says the blocking one runs (the child runs its
// requests one at a time, but in the order its goroutines take a lock, not the order they
// came in: the call behind could run first and be answered), and the execution timeout
// runs on a fake clock, moved on once both calls are written (on the wall clock, 300 ms
// could pass on a loaded machine before the call behind was sent, and the worker was ended
// before it).
func TestCallsEndedByAnotherCallsTimeoutSayWhy(t *testing.T) {
	for _, mode := range []string{"serial", "serial_term0"} {
		t.Run(mode, func(t *testing.T) {
			checkNoLeaks(t)
			clk := newFakeClock()
			announced := make(chan any, 1)
			p, err := NewPool(context.Background(), child(mode), WithWorkers(1), WithStderr(nil),
				WithExecTimeout(300*time.Millisecond), WithConcurrency(4), withClock(clk),
				OnMessage(func(v any) { announced <- v }))
			require.NoError(t, err)
			defer p.Kill()
			// written counts the calls whose requests were written to the worker: their
			// execution timeouts are armed by then.
			written := func() int {
				p.mu.Lock()
				defer p.mu.Unlock()
				n := 0
				if r := p.slots[0].current; r != nil {
					for x := r.queue.head; x != nil; x = x.next {
						if x.order.Load() != 0 {
							n++
						}
					}
				}
				return n
			}
			blocked := make(chan error, 1)
			go func() { blocked <- p.Call(context.Background(), "block_announced", []any{5000}, nil) }()
			select {
			case <-announced: // it runs, holding the child's one place
			case <-time.After(30 * time.Second):
				t.Fatal("the blocking call never started")
			}
			behind := make(chan error, 1)
			go func() { behind <- p.Call(context.Background(), "echo", []any{1}, nil) }()
			eventually(t, "the call behind it written", func() bool { return written() == 2 })
			clk.Advance(300 * time.Millisecond)
			require.ErrorIs(t, <-blocked, ErrExecTimeout)
			err = <-behind
			require.ErrorIs(t, err, ErrExited)
			require.NotErrorIs(t, err, ErrClosed)
			assert.Contains(t, err.Error(), `the pool ended this worker: call "block_announced" on it exceeded the execution timeout`)
		})
	}
}

// Terminate and Close end a child with calls in flight: those calls get the exit, even a
// clean one, and calls made afterwards get ErrClosed.
func TestCallsInFlightWhenTheHostEndsTheChildGetItsExit(t *testing.T) {
	checkNoLeaks(t)
	p := start(t, child("serial_term0"))
	inFlight := make(chan error, 1)
	go func() { inFlight <- p.Call(context.Background(), "block", []any{5000}, nil) }()
	eventually(t, "the call in flight", func() bool { return p.InFlight() == 1 })
	p.Terminate()
	err := <-inFlight
	require.ErrorIs(t, err, ErrExited)
	require.NotErrorIs(t, err, ErrClosed)
	assert.Contains(t, err.Error(), "exited with status 0")
	require.NoError(t, p.Wait(), "a clean exit the host asked for is no failure")
	require.ErrorIs(t, p.Call(context.Background(), "echo", []any{1}, nil), ErrClosed)
}

// slowStopWorker takes a while to stop, as a child finishing its work after $stop does.
type slowStopWorker struct{ *fakeWorker }

func (w slowStopWorker) closeWithin(ctx context.Context) error {
	time.Sleep(300 * time.Millisecond)
	return w.fakeWorker.closeWithin(ctx)
}

func TestShutdownWaitsForAWorkerThatFinishedStartingMeanwhile(t *testing.T) {
	gate := make(chan struct{})
	started := make(chan *fakeWorker, 4)
	var n atomic.Int32
	starter := func(ctx context.Context, name string) (worker, error) {
		if n.Add(1) > 1 {
			<-gate // a start in progress whose $ready arrives just as the pool closes
		}
		w := newFakeWorker(name, func(ctx context.Context, w *fakeWorker, method string) (any, error) { return 1, nil })
		started <- w
		return slowStopWorker{w}, nil
	}
	p, err := NewPool(context.Background(), []string{"fake"}, withClock(newFakeClock()), withStarter(starter), WithWorkers(1))
	require.NoError(t, err)
	(<-started).crash(1) // restarted at once, and the start blocks
	eventually(t, "the restart under way", func() bool { return n.Load() == 2 })
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	close(gate)
	second := <-started
	require.NoError(t, <-done)
	select {
	case <-second.Done():
	default:
		t.Fatal("Shutdown returned while a worker it started was still running")
	}
}

func TestNoLeaderOnAStreamWhoseDeadlinesDoNotWork(t *testing.T) {
	// A blocking descriptor wrapped by os.NewFile has SetReadDeadline, which fails: a leader
	// there could not be stopped by its context.
	var fds [2]int
	require.NoError(t, syscall.Pipe(fds[:]))
	r, w := os.NewFile(uintptr(fds[0]), "r"), os.NewFile(uintptr(fds[1]), "w")
	c, err := NewConn(r, io.Discard)
	require.NoError(t, err)
	assert.Nil(t, c.rdl)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, c.Call(ctx, "x", nil, nil), context.DeadlineExceeded)
	w.Close() // end of input: a blocking read can be ended no other way
	c.Close()
}

// A child that sends more messages than the handlers keep up with and exits cleanly has
// every one of them handled, however long the handlers take: the host stops reading only
// when neither the reader nor the handlers move for a second (a grandchild holding the
// channel, a stuck handler). It had stopped a second after the exit, dropping the rest.
func TestMessagesSentBeforeACleanExitAreAllHandled(t *testing.T) {
	checkNoLeaks(t)
	// Past the reader's soft backlog of 1024, the reader reads one more each time a handler
	// takes one: the last 376 wait for the first 400 slow handlers, two seconds.
	const n = 1400
	var handled atomic.Int64
	p := start(t, child("flood_exit", strconv.Itoa(n)), OnMessage(func(any) {
		if handled.Load() < 400 {
			time.Sleep(5 * time.Millisecond)
		}
		handled.Add(1)
	}))
	require.NoError(t, p.Wait())
	assert.EqualValues(t, n, handled.Load())
}

// With a handler stuck, a failed write still ends the session within about a second, even
// while the reader is paused behind that handler: a Send the handler waits for returns.
func TestAFailedWriteEndsTheSessionDespiteAStuckHandler(t *testing.T) {
	checkNoLeaks(t)
	gate := make(chan struct{})
	p := start(t, child("flood_half_exit", "1100"), OnMessage(func(any) { <-gate }))
	<-p.Exited()
	sent := make(chan error, 1)
	go func() { sent <- p.Send(context.Background(), "x") }()
	select {
	case err := <-sent:
		// The exit: the half frame behind the stuck handler's backlog is not read.
		require.True(t, errors.Is(err, ErrExited) || errors.Is(err, ErrProtocol), "got %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Send waited for a handler that waits for it")
	}
	close(gate)
	_ = p.Wait() // returns
}

// A nil context is the caller's bug, but it used to panic inside Call after the call had
// taken its place, and every later call on the child hung. Every method that takes a
// context now refuses nil before touching anything.
func TestANilContextIsRefusedAndHarmsNothing(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	var nilCtx context.Context
	p := start(t, child("serve"))
	var out string
	for name, use := range map[string]func() error{
		"Call":     func() error { return p.Call(nilCtx, "echo", []any{"x"}, &out) },
		"Send":     func() error { return p.Send(nilCtx, "x") },
		"Notify":   func() error { return p.Notify(nilCtx, "note") },
		"Shutdown": func() error { return p.Shutdown(nilCtx) },
		"Start":    func() error { _, err := Start(nilCtx, child("serve")); return err },
		"NewPool":  func() error { _, err := NewPool(nilCtx, child("serve")); return err },
	} {
		err := use()
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "the context is nil", name)
	}
	require.NoError(t, p.Call(ctx, "echo", []any{"still fine"}, &out))
	assert.Equal(t, "still fine", out)

	pool, err := NewPool(ctx, child("serve"), WithWorkers(1))
	require.NoError(t, err)
	defer pool.Close()
	for name, use := range map[string]func() error{
		"Pool.Call":      func() error { return pool.Call(nilCtx, "echo", []any{"x"}, &out) },
		"Pool.Send":      func() error { return pool.Send(nilCtx, "x") },
		"Pool.Notify":    func() error { return pool.Notify(nilCtx, "note") },
		"Pool.Broadcast": func() error { return pool.Broadcast(nilCtx, "x") },
		"Pool.Reload":    func() error { return pool.Reload(nilCtx) },
		"Pool.Shutdown":  func() error { return pool.Shutdown(nilCtx) },
	} {
		err := use()
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "the context is nil", name)
	}
	require.NoError(t, pool.Call(ctx, "echo", []any{"pool fine"}, &out))
	assert.Equal(t, "pool fine", out)
}

// nilEncoder is a value whose own encoder panics, as a method on a nil pointer does.
type nilEncoder struct{ p *int }

func (v nilEncoder) EncodeMsgpack(enc *msgpack.Encoder) error { return enc.EncodeInt(int64(*v.p)) }

// A param whose encoder panicked used to unwind through Pool.Call after it had taken a
// worker's slot and the call's place: the slots stayed taken, and after a few such calls
// every call on the pool waited forever. Such a value is now refused like any other that
// has no msgpack form.
func TestAParamWhoseEncoderPanicsTakesNoSlotForGood(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	pool, err := NewPool(ctx, child("serve"), WithWorkers(1), WithQueueSize(2))
	require.NoError(t, err)
	defer pool.Close()
	for i := 0; i < 40; i++ {
		err := pool.Call(ctx, "echo", []any{nilEncoder{}}, nil)
		require.ErrorIs(t, err, ErrUnsendable)
		requireContains(t, err, "its encoder panicked")
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var out string
	require.NoError(t, pool.Call(cctx, "echo", []any{"fine"}, &out))
	assert.Equal(t, "fine", out)

	p := start(t, child("serve"))
	require.ErrorIs(t, p.Call(ctx, "echo", []any{nilEncoder{}}, nil), ErrUnsendable)
	require.ErrorIs(t, p.Send(ctx, nilEncoder{}), ErrUnsendable)
	assert.Zero(t, p.InFlight(), "the refused call holds no place")
}

// givenUpWhileRunning makes a call of block_announced (ms) on p and gives up on it once the
// worker runs it; it returns the worker, which goes on running it (it ignores $cancel, as a
// synchronous Python or PHP worker does). announced must be the pool's OnMessage channel.
func givenUpWhileRunning(t *testing.T, p *Pool, announced <-chan any, ms int) Worker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var w Worker
	res := make(chan error, 1)
	go func() { res <- p.Call(ctx, "block_announced", []any{ms}, nil, ReportWorker(&w)) }()
	select {
	case <-announced:
	case <-time.After(30 * time.Second):
		t.Fatal("the blocking call never started")
	}
	cancel()
	require.ErrorIs(t, <-res, context.Canceled)
	return w
}

// A call whose caller gave up while its worker, which ignores $cancel, runs it keeps its
// place on that worker until the worker answers it: the next calls go to the free worker
// instead of waiting behind it in the busy one's input, and the place is given back once the
// late answer comes. It used to be freed at once, and the next call went to the busy worker.
func TestACallGivenUpOnKeepsItsPlaceUntilItsWorkerAnswers(t *testing.T) {
	checkNoLeaks(t)
	announced := make(chan any, 1)
	p, err := NewPool(context.Background(), child("serial"), WithWorkers(2), WithStderr(nil),
		WithConcurrency(1), OnMessage(func(v any) { announced <- v }))
	require.NoError(t, err)
	defer p.Kill()
	busy := givenUpWhileRunning(t, p, announced, 3000)
	for i := 0; i < 20; i++ {
		var pid int
		require.NoError(t, p.Call(context.Background(), "pid", nil, &pid))
		require.NotEqual(t, busy.Pid, pid, "call %d went to the worker still running the call given up on", i)
	}
	eventually(t, "the place given back once the late answer came", func() bool {
		st := p.Stats()
		return st.Workers[0].InFlight == 0 && st.Workers[1].InFlight == 0
	})
	require.NoError(t, p.Close())
}

// A call that finds every worker busy only with calls given up on says so, and how to
// bound them: "no worker was free" alone read as an overloaded pool.
func TestACallThatFindsWorkersHeldByCallsGivenUpOnSaysWhy(t *testing.T) {
	checkNoLeaks(t)
	announced := make(chan any, 1)
	p, err := NewPool(context.Background(), child("serial"), WithWorkers(1), WithStderr(nil),
		WithConcurrency(1), OnMessage(func(v any) { announced <- v }))
	require.NoError(t, err)
	defer p.Kill()
	givenUpWhileRunning(t, p, announced, 3000)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = p.Call(ctx, "pid", nil, nil)
	require.ErrorIs(t, err, ErrSaturated)
	assert.Contains(t, err.Error(), "1 of 1 busy only with calls given up on")
	assert.Contains(t, err.Error(), "WithExecTimeout")
	require.NoError(t, p.Close())
}

// The execution timeout blames the call that ran long, even when its caller gave up on it:
// the call after it must not time out for it (it used to be sent to the worker still running
// the call given up on, and failed with ErrExecTimeout naming itself). The worker is ended
// when the call given up on passes the timeout, and the next call runs on its replacement.
func TestACallGivenUpOnStillCountsAgainstTheExecutionTimeout(t *testing.T) {
	checkNoLeaks(t)
	announced := make(chan any, 1)
	p, err := NewPool(context.Background(), child("serial"), WithWorkers(1), WithStderr(nil),
		WithExecTimeout(time.Second), OnMessage(func(v any) { announced <- v }))
	require.NoError(t, err)
	defer p.Kill()
	busy := givenUpWhileRunning(t, p, announced, 30000)
	var pid int
	require.NoError(t, p.Call(context.Background(), "pid", nil, &pid), "the call after the one given up on")
	require.NotEqual(t, busy.Pid, pid, "answered by a new worker: the old one was ended for the call given up on")
	require.NoError(t, p.Close())
}

// gatedInt encodes as v once gate is closed: a param that takes as long to encode as the
// test wants, as a large one does.
type gatedInt struct {
	gate <-chan struct{}
	v    int64
}

func (g gatedInt) EncodeMsgpack(enc *msgpack.Encoder) error {
	<-g.gate
	return enc.EncodeInt(g.v)
}

// Calls given to one worker are written by their callers' goroutines, so the first given
// can reach the worker second (its params take longer to encode) and wait there behind the
// other. The execution timeout now counts from when the worker can run it, and blames the
// call that ran long: the first given, written second, used to be timed from when it was
// given, and failed with ErrExecTimeout for the other's time (or was blamed for it).
func TestTheExecutionTimeoutBlamesTheCallTheWorkerRan(t *testing.T) {
	run := func(t *testing.T, firstMs, secondMs int) (first, second error) {
		checkNoLeaks(t)
		announced := make(chan any, 1)
		p, err := NewPool(context.Background(), child("serial"), WithWorkers(1), WithStderr(nil),
			WithConcurrency(2), WithExecTimeout(2*time.Second), OnMessage(func(v any) { announced <- v }))
		require.NoError(t, err)
		defer p.Kill()
		gate := make(chan struct{})
		firstDone := make(chan error, 1)
		go func() {
			firstDone <- p.Call(context.Background(), "block", []any{gatedInt{gate, int64(firstMs)}}, nil)
		}()
		eventually(t, "the first call given to the worker", func() bool { return p.Stats().Workers[0].InFlight == 1 })
		secondDone := make(chan error, 1)
		go func() { secondDone <- p.Call(context.Background(), "block_announced", []any{secondMs}, nil) }()
		select {
		case <-announced: // the second call runs: the first is written behind it
		case <-time.After(30 * time.Second):
			t.Fatal("the second call never started")
		}
		close(gate)
		return <-firstDone, <-secondDone
	}
	t.Run("each within the timeout", func(t *testing.T) {
		first, second := run(t, 1000, 1500)
		require.NoError(t, second)
		require.NoError(t, first, "1 s in the worker, after 1.5 s waiting behind the other call")
	})
	t.Run("the one written first runs too long", func(t *testing.T) {
		first, second := run(t, 100, 30000)
		require.ErrorIs(t, second, ErrExecTimeout)
		assert.Contains(t, second.Error(), `"block_announced" ran longer than 2s`)
		require.ErrorIs(t, first, ErrExited)
		require.NotErrorIs(t, first, ErrExecTimeout)
		assert.Contains(t, first.Error(), `the pool ended this worker: call "block_announced" on it exceeded the execution timeout`)
	})
}

// A call refused before it was sent (params above the maximum frame size: ErrUnsendable)
// is no job of its worker: it counted toward WithMaxJobs, so oversized requests (a 413
// through serve) recycled workers that had run nothing, and toward JobsDone in Stats and
// the 100 calls that make a worker's run count as healthy.
func TestAnUnsendableCallIsNoJob(t *testing.T) {
	checkNoLeaks(t)
	p, err := NewPool(context.Background(), child("serve"), WithWorkers(1), WithStderr(nil),
		WithMaxFrameSize(64<<10), WithMaxJobs(5))
	require.NoError(t, err)
	defer p.Kill()
	pid := p.Stats().Workers[0].Pid
	big := strings.Repeat("x", 1<<20)
	for i := 0; i < 20; i++ {
		err := p.Call(context.Background(), "echo", []any{big}, nil)
		require.ErrorIs(t, err, ErrUnsendable)
		require.ErrorIs(t, err, protocol.ErrFrameTooLarge)
	}
	var got int
	require.NoError(t, p.Call(context.Background(), "pid", nil, &got))
	assert.Equal(t, pid, got, "the worker was not recycled for calls it never received")
	st := p.Stats().Workers[0]
	assert.Equal(t, int64(1), st.JobsDone, "only the call that ran counts")
	assert.Zero(t, st.Restarts)
	require.NoError(t, p.Close())
}

// A worker that exits while the host's message handlers still work through what it sent
// is replaced once its process is gone, not once the handlers are done: the slot stayed
// with the dead worker, shown as ready, and calls waited (then failed "no worker was
// free") for as long as the handlers took, minutes for a flood.
func TestAWorkerThatExitsIsReplacedWhileItsMessagesAreStillHandled(t *testing.T) {
	checkNoLeaks(t)
	gate := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	file := filepath.Join(t.TempDir(), "flooded")
	p, err := NewPool(context.Background(), child("flood_exit_once", file, "2000"), WithWorkers(1),
		WithStderr(nil), OnMessage(func(any) { <-gate }))
	require.NoError(t, err)
	defer p.Kill()
	defer release() // the listener that runs when Kill drops the rest returns
	first := p.Stats().Workers[0].Pid
	eventually(t, "the first worker replaced", func() bool {
		w := p.Stats().Workers[0]
		return w.State == "ready" && w.Pid != first
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var pid int
	require.NoError(t, p.Call(ctx, "pid", nil, &pid), "the handlers of the first worker's messages are still blocked")
	require.NotEqual(t, first, pid)
	release()
	require.NoError(t, p.Close())
}

// A result (or a param a handler decodes) holding an integer its Go type cannot hold fails
// naming the method and the place; it was silently wrapped (1000 came back as -24 in an
// []int8, -1 as 18446744073709551615 in a uint).
func TestTypedDecodingRefusesIntegersThatDoNotFit(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	gotParam := make(chan error, 1)
	p := start(t, child("serve"), WithHandler("take", func(ctx context.Context, a Args) (any, error) {
		var u uint
		err := a.Decode(&u)
		gotParam <- err
		return nil, err
	}))

	var small []int8
	err := p.Call(ctx, "echo", []any{[]int{1, 1000}}, &small)
	requireContains(t, err, `call "echo": decoding the result`, "the value[1]: 1000 does not fit in int8")
	var u uint
	err = p.Call(ctx, "echo", []any{-1}, &u)
	requireContains(t, err, `call "echo"`, "the value: -1 does not fit in uint")

	err = p.Call(ctx, "call_host", []any{"take", []any{-7}}, nil)
	requireContains(t, err, "does not fit in uint") // the handler's error, back through the child
	requireContains(t, <-gotParam, "param 0", "the value: -7 does not fit in uint")

	// The child serves on.
	var sum int8
	require.NoError(t, p.Call(ctx, "add", []any{100, 27}, &sum))
	require.Equal(t, int8(127), sum)
	require.NoError(t, p.Close())
}

// Out-of-range pool options: WithWorkers(math.MaxInt) made NewPool panic ("makechan: size
// out of range") after it had opened its listeners; now it is an invalid option, and
// nothing is started.
func TestHugeWorkerCountsAreAnInvalidOption(t *testing.T) {
	checkNoLeaks(t)
	for _, n := range []int{math.MaxInt, 1<<22 + 1} {
		p, err := NewPool(context.Background(), child("serve"), WithWorkers(n))
		require.ErrorIs(t, err, ErrInvalidOption)
		require.Nil(t, p)
		requireContains(t, err, "WithWorkers", strconv.Itoa(n), "more than 4194304")
	}
}

// Restart backoffs of a century or more (math.MaxInt64 for "never restart quickly"): the
// jitter's d*3/4 overflowed into a negative delay, and the doubling of a long minimum into
// a tiny one, so a failing worker was restarted at once, again and again.
func TestLongRestartBackoffsDoNotOverflow(t *testing.T) {
	for _, d := range []time.Duration{math.MaxInt64, math.MaxInt64 / 3 * 2, 100 * 365 * 24 * time.Hour} {
		for i := 0; i < 100; i++ {
			j := jitter(d)
			require.GreaterOrEqual(t, j, d-d/4, "jitter(%v)", d)
		}
	}
	for _, min := range []time.Duration{1<<62 + 1, math.MaxInt64 / 3, time.Hour} {
		p := &Pool{cfg: poolConfig{minBackoff: min, maxBackoff: math.MaxInt64}}
		s := &slot{}
		require.Zero(t, p.backoffLocked(s, false), "the first restart is immediate")
		for i := 0; i < 40; i++ {
			d := p.backoffLocked(s, false)
			require.GreaterOrEqual(t, d, min-min/4, "restart %d with min %v", i+2, min)
		}
	}
	// The usual backoffs are unchanged: min, doubling up to max, each jittered.
	p := &Pool{cfg: poolConfig{minBackoff: 100 * time.Millisecond, maxBackoff: 10 * time.Second}}
	s := &slot{}
	require.Zero(t, p.backoffLocked(s, false))
	for _, want := range []time.Duration{100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000} {
		d := p.backoffLocked(s, false)
		want *= time.Millisecond
		require.True(t, d >= want*3/4 && d < want*5/4, "%v not around %v", d, want)
	}
}

// nilPointerError is an error whose Error method dereferences its receiver, as most do.
type nilPointerError struct{ msg string }

func (e *nilPointerError) Error() string { return e.msg }

// A host handler that returns a typed nil as its error (the classic `var err *RemoteError;
// return v, err`), or an error whose Error method panics, gets the child an error saying so,
// and the host serves on. Both crashed the host: errorValue dereferenced the nil pointer on
// the handler's goroutine, after the recovery of handler panics.
func TestAHandlerErrorThatIsATypedNilDoesNotCrashTheHost(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	p := start(t, child("serve"),
		WithHandler("typed_nil", func(ctx context.Context, a Args) (any, error) {
			var err *RemoteError
			return "ignored", err
		}),
		WithHandler("panicking_error", func(ctx context.Context, a Args) (any, error) {
			var err *nilPointerError
			return nil, err
		}))

	err := p.Call(ctx, "call_host", []any{"typed_nil", []any{}}, nil)
	requireContains(t, err, "a nil *bridge.RemoteError as its error", "typed nil pointer is not a nil error")
	err = p.Call(ctx, "call_host", []any{"panicking_error", []any{}}, nil)
	requireContains(t, err, "*bridge.nilPointerError whose methods panicked", "nil pointer dereference")

	var n int
	require.NoError(t, p.Call(ctx, "add", []any{1, 2}, &n))
	require.Equal(t, 3, n)
	require.NoError(t, p.Close())
}

// A Conn, Process or Pool not made by its constructor (a zero value, such as a struct field
// of type bridge.Pool) does nothing and says so. Its methods panicked: a nil pointer
// dereference, or "close of nil channel" on a goroutine of the Process's own (beyond any
// recover: the host died), and the zero Pool's Reload returned nil.
func TestZeroValuesSayTheyAreZero(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	isClosed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	noop := func(ctx context.Context, a Args) (any, error) { return nil, nil }

	var c Conn
	for _, err := range []error{
		c.Call(ctx, "m", nil, nil), c.Send(ctx, 1), c.Notify(ctx, "n"),
		c.Drain(ctx), c.Flush(ctx), c.Close(), c.CloseWithError(io.EOF), c.Err(),
	} {
		requireContains(t, err, "Conn is a zero value, not made by NewConn")
	}
	c.Handle("m", noop)
	c.OnMessage(func(any) {})
	c.OnNotification("n", func(Args) {})
	require.Zero(t, c.InFlight())
	require.True(t, isClosed(c.Done()))

	var p Process
	for _, err := range []error{
		p.Call(ctx, "m", nil, nil), p.Send(ctx, 1), p.Notify(ctx, "n"),
		p.Close(), p.Shutdown(ctx), p.Kill(), p.Wait(), p.Err(),
	} {
		requireContains(t, err, "Process is a zero value, not made by Start")
	}
	_, err := p.RSS()
	requireContains(t, err, "zero value")
	p.Terminate()
	p.Signal(syscall.SIGTERM)
	p.Handle("m", noop)
	p.OnMessage(func(any) {})
	p.OnNotification("n", func(Args) {})
	require.Zero(t, p.InFlight())
	require.Nil(t, p.StderrTail())
	require.Equal(t, -1, p.ExitCode())
	require.True(t, isClosed(p.Done()))
	require.True(t, isClosed(p.Exited()))

	var pool Pool
	for _, err := range []error{
		pool.Call(ctx, "m", nil, nil), pool.Send(ctx, 1), pool.Notify(ctx, "n"), pool.Broadcast(ctx, 1),
		pool.Reload(ctx), pool.Close(), pool.Shutdown(ctx),
	} {
		requireContains(t, err, "Pool is a zero value, not made by NewPool")
	}
	pool.Kill()
	require.Nil(t, pool.ListenSockets())
	require.Equal(t, PoolStats{}, pool.Stats())

	// A nil pointer of each, as a Start that failed leaves it, behaves the same.
	var np *Process
	var npool *Pool
	var nc *Conn
	for _, err := range []error{
		np.Call(ctx, "m", nil, nil), np.Send(ctx, 1), np.Close(), np.Kill(), np.Wait(),
		npool.Call(ctx, "m", nil, nil), npool.Send(ctx, 1), npool.Reload(ctx), npool.Close(),
		nc.Call(ctx, "m", nil, nil), nc.Send(ctx, 1), nc.Close(),
	} {
		requireContains(t, err, "is a zero value")
	}
	require.True(t, isClosed(np.Done()))
	require.True(t, isClosed(nc.Done()))
	require.Zero(t, np.Pid())
	require.Empty(t, np.Name())
	require.Equal(t, ReadyInfo{}, np.Ready())
	require.Equal(t, -1, np.ExitCode())
	require.Nil(t, np.Console())
	require.Nil(t, np.StderrTail())
	require.Zero(t, np.InFlight())
	require.Equal(t, PoolStats{}, npool.Stats())
	require.Zero(t, nc.InFlight())
}

// WithSysProcAttr asking for a session of its own (Setsid) starts the child as its leader,
// which leads its process group too, so a stop still ends its whole group. The start
// failed with "fork/exec ...: operation not permitted": polyfork added Setpgid, and a
// process group leader cannot start a session.
func TestAChildInASessionOfItsOwn(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	p, err := Start(ctx, child("serve"), WithSysProcAttr(&syscall.SysProcAttr{Setsid: true}), WithStderr(nil))
	require.NoError(t, err)
	sid, err := unix.Getsid(p.Pid())
	require.NoError(t, err)
	require.Equal(t, p.Pid(), sid, "the child leads its session")
	pgid, err := syscall.Getpgid(p.Pid())
	require.NoError(t, err)
	require.Equal(t, p.Pid(), pgid, "and its process group")
	var gc int
	require.NoError(t, p.Call(ctx, "spawn_grandchild", nil, &gc))
	require.NoError(t, p.Close())
	eventually(t, "the grandchild is gone with the group", func() bool { return !alive(gc) })
}

// NewConn refuses a nil stream: a nil reader or writer made the Conn's own goroutines panic
// (bufio on a nil reader), beyond any recover, and the host died.
func TestNewConnRefusesANilStream(t *testing.T) {
	checkNoLeaks(t)
	r, w := io.Pipe()
	defer r.Close()
	defer w.Close()
	c, err := NewConn(nil, w)
	require.ErrorIs(t, err, ErrInvalidOption)
	require.ErrorContains(t, err, "the stream to read frames from is nil")
	require.Nil(t, c)
	c, err = NewConn(r, nil)
	require.ErrorIs(t, err, ErrInvalidOption)
	require.ErrorContains(t, err, "the stream to write frames to is nil")
	require.Nil(t, c)
	_, err = NewConn(nil, nil, WithMaxValues(1))
	requireContains(t, err, "WithMaxValues", "read frames from is nil", "write frames to is nil")
}

// Grace periods of math.MaxInt64 ("never force a worker") are honoured: their sum
// overflowed into a negative bound, so a Pool SIGKILLed every worker it stopped at once (on
// Reload and Close, "signal=killed" where a worker exits 0), and Process.Close gave up
// handling what the child had sent at once.
func TestTheLongestGracePeriodsDoNotKillAtOnce(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	var mu sync.Mutex
	var exits []string
	logged := slog.New(&exitRecorder{mu: &mu, exits: &exits})
	pool, err := NewPool(ctx, child("serve"), WithWorkers(1), WithStderr(nil), WithLogger(logged),
		WithGracePeriods(math.MaxInt64, math.MaxInt64))
	require.NoError(t, err)
	require.NoError(t, pool.Reload(ctx))
	require.NoError(t, pool.Close())
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"status=0", "status=0"}, exits, "both workers exited by themselves on $stop")
}

// exitRecorder is a slog.Handler that keeps how each child exited.
type exitRecorder struct {
	mu    *sync.Mutex
	exits *[]string
}

func (h *exitRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *exitRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *exitRecorder) WithGroup(string) slog.Handler            { return h }
func (h *exitRecorder) Handle(_ context.Context, r slog.Record) error {
	if !strings.Contains(r.Message, "child exited") {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "status" || a.Key == "signal" {
			h.mu.Lock()
			*h.exits = append(*h.exits, a.Key+"="+a.Value.String())
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

// A PHP worker's empty associative array (sent as an empty msgpack array, PHP having one
// array type) decodes into the Go map or struct its other results go into: the call failed
// with "unexpected code=90 decoding map length".
func TestAPHPEmptyMapDecodesIntoAGoMap(t *testing.T) {
	checkNoLeaks(t)
	php := testutil.Interpreter("POLYFORK_PHP", "php")
	dir := t.TempDir()
	script := filepath.Join(dir, "config.php")
	autoload, err := filepath.Abs(filepath.Join("..", "clients", "php", "autoload.php"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(script, []byte(`<?php
require `+strconv.Quote(autoload)+`;
Polyfork\Polyfork::handle('config', fn (bool $empty): array => $empty ? [] : ['name' => 'x']);
Polyfork\Polyfork::handle('slots', fn (): array => [0 => 'a', 1 => 'b', 5 => 'f']);
Polyfork\Polyfork::handle('first_slots', fn (): array => [0 => 'a', 1 => 'b']);
Polyfork\Polyfork::run();
`), 0o600))
	p := start(t, []string{php, script})
	ctx := context.Background()
	var m map[string]string
	require.NoError(t, p.Call(ctx, "config", []any{false}, &m))
	require.Equal(t, map[string]string{"name": "x"}, m)
	var none map[string]string
	require.NoError(t, p.Call(ctx, "config", []any{true}, &none))
	require.Equal(t, map[string]string{}, none)
	var s struct {
		Name string `json:"name"`
	}
	require.NoError(t, p.Call(ctx, "config", []any{true}, &s))
	// A PHP map whose keys happen to be 0..n-1 is a list on the wire: a Go map with integer
	// keys takes it as the map it was.
	var slots map[int]string
	require.NoError(t, p.Call(ctx, "slots", nil, &slots))
	require.Equal(t, map[int]string{0: "a", 1: "b", 5: "f"}, slots)
	var first map[int]string
	require.NoError(t, p.Call(ctx, "first_slots", nil, &first))
	require.Equal(t, map[int]string{0: "a", 1: "b"}, first)
	require.NoError(t, p.Close())
}
