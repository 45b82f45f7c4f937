package remote_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/polyfork/polyfork/bridge"

	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/polyfork/polyfork/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Under a max_payload smaller than the object store's chunks (128 KiB), bodies above it
// still travel through the object store, both ways: every chunk used to be refused
// ("nats: maximum payload exceeded"), and the error told the user to enable the JetStream
// the server had.
func TestLargeBodiesTravelUnderASmallMaxPayload(t *testing.T) {
	s := runServer(t, remote.ServerConfig{MaxPayload: 16 << 10})
	startAgent(t, s.ClientURL(), "small")
	p := dial(t, s.ClientURL(), "small")
	ctx := ctxFor(t, 30*time.Second)
	in := strings.Repeat("y", 300<<10) // several chunks of the default size
	var out string
	require.NoError(t, p.Call(ctx, "echo", []any{in}, &out), "params and result above max_payload")
	require.Equal(t, in, out)
	var b []byte
	require.NoError(t, p.Call(ctx, "big", []any{50 << 10}, &b), "a result above max_payload")
	require.True(t, bytes.Equal(bytes.Repeat([]byte("x"), 50<<10), b))
	require.NoError(t, p.Send(ctx, strings.Repeat("m", 50<<10)), "a message above max_payload")
}

// callWithin runs p.Call and fails the test if it has not returned within bound: a hang.
func callWithin(t *testing.T, bound time.Duration, call func() error) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- call() }()
	select {
	case err := <-errc:
		return err
	case <-time.After(bound):
		t.Fatalf("the call did not return within %v", bound)
		return nil
	}
}

// A caller whose connection to NATS takes no data (a stalled network: the proxy stops
// forwarding) gets its calls failed at their deadline or, without one, at the heartbeat
// bound (ErrAgentLost), saying that publishing had not completed; once the network moves
// again the pool serves on.
// Publishing blocked, holding the connection's lock, for nats.go's FlusherTimeout: calls
// with a deadline of 2 s returned after a minute (`publishing: write tcp ...: i/o
// timeout`), and every other call of the connection waited behind them.
func TestAStalledConnectionDoesNotHoldCallsPastTheirDeadline(t *testing.T) {
	s := runServer(t, remote.ServerConfig{})
	startAgent(t, s.ClientURL(), "stall")
	pr := testutil.NewProxy(t, s.Addr().String())
	nc := connect(t, pr.URL())
	p, err := remote.Dial(context.Background(), nc, "stall")
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	var sum int64
	require.NoError(t, p.Call(ctxFor(t, 20*time.Second), "add", []any{1, 2}, &sum))

	pr.Pause()
	big := strings.Repeat("x", 900<<10) // fills the socket buffers in a few calls
	stalled := false
	for i := 0; i < 40 && !stalled; i++ {
		err := callWithin(t, 30*time.Second, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return p.Call(ctx, "echo", []any{big}, nil)
		})
		require.Error(t, err)
		stalled = strings.Contains(err.Error(), "publishing the call")
	}
	require.True(t, stalled, "the connection never stalled")
	// Without a deadline: the heartbeat bound.
	err = callWithin(t, 30*time.Second, func() error { return p.Call(context.Background(), "add", []any{1, 2}, &sum) })
	require.ErrorIs(t, err, remote.ErrAgentLost)
	require.Contains(t, err.Error(), "publishing the call to NATS had not completed")
	// Listing the agents (serve's /healthz, polyfork agents) ends with its context too.
	err = callWithin(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := remote.Agents(ctx, nc, "stall")
		return err
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	// A cancelled call returns at once too.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	err = callWithin(t, 30*time.Second, func() error { return p.Call(ctx, "add", []any{1, 2}, &sum) })
	require.ErrorIs(t, err, context.Canceled)

	// Callers that keep coming during the stall (a gateway's requests) do not each leave a
	// publish behind, stuck with its body until the connection moves: they wait for one of
	// a bounded number of places, and fail at their deadline all the same.
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	for range 600 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			assert.Error(t, p.Call(ctx, "add", []any{1, 2}, nil))
		}()
	}
	wg.Wait()
	assert.Less(t, runtime.NumGoroutine()-before, 300, "each call left a goroutine behind")

	pr.Resume()
	require.Eventually(t, func() bool {
		return p.Call(ctxFor(t, 10*time.Second), "add", []any{2, 3}, &sum) == nil && sum == 5
	}, 60*time.Second, 10*time.Millisecond)
}

// A call the pool gives up on because the network failed under it is cancelled at the
// agent, as a call its caller cancels is: the caller's connection cut mid-call (it comes
// back at once, so the agent's beats reach its inbox again), and the agent's connection
// stalled past the heartbeat bound. The agent ran both on, holding a place, for as long as
// the handler ran (an hour here).
func TestCallsGivenUpOnANetworkFailureAreCancelledAtTheAgent(t *testing.T) {
	s := runServer(t, remote.ServerConfig{})
	t.Run("caller cut", func(t *testing.T) {
		a := startAgent(t, s.ClientURL(), "givenup1")
		pr := testutil.NewProxy(t, s.Addr().String())
		p := dial(t, pr.URL(), "givenup1")
		errc := make(chan error, 1)
		go func() { errc <- p.Call(context.Background(), "sleep", []any{3600_000}, nil) }()
		require.Eventually(t, func() bool { return a.Stats().InFlight == 1 }, 20*time.Second, 5*time.Millisecond)
		pr.Cut()
		require.ErrorIs(t, <-errc, remote.ErrDisconnected)
		require.Eventually(t, func() bool { return a.Stats().InFlight == 0 }, 30*time.Second, 10*time.Millisecond,
			"the agent still runs the call its caller gave up on")
	})
	t.Run("agent stalled", func(t *testing.T) {
		pr := testutil.NewProxy(t, s.Addr().String())
		a := startAgent(t, pr.URL(), "givenup2")
		p := dial(t, s.ClientURL(), "givenup2")
		errc := make(chan error, 1)
		go func() { errc <- p.Call(context.Background(), "sleep", []any{3600_000}, nil) }()
		require.Eventually(t, func() bool { return a.Stats().InFlight == 1 }, 20*time.Second, 5*time.Millisecond)
		pr.Pause()
		require.ErrorIs(t, <-errc, remote.ErrAgentLost)
		pr.Resume()
		require.Eventually(t, func() bool { return a.Stats().InFlight == 0 }, 30*time.Second, 10*time.Millisecond,
			"the agent still runs the call its caller gave up on")
		var sum int64
		require.NoError(t, p.Call(ctxFor(t, 20*time.Second), "add", []any{1, 2}, &sum))
	})
}

// An agent cut off without its TCP connection closing (a partition: the proxy stops
// forwarding) stops getting calls once the embedded server has pinged it out, within
// seconds: until then the server hands it its share of the calls, each failing with
// ErrAgentLost after the heartbeat bound. With nats-server's default pings (every 2 min,
// two unanswered) that lasted about 4 minutes: 35 of the calls of a minute failed here,
// the last one at the end of the minute.
func TestAPartitionedAgentStopsGettingCalls(t *testing.T) {
	s := runServer(t, remote.ServerConfig{})
	pr := testutil.NewProxy(t, s.Addr().String())
	startAgent(t, pr.URL(), "partition")
	startAgent(t, s.ClientURL(), "partition")
	p := dial(t, s.ClientURL(), "partition")
	pr.Pause()
	ok, failed := 0, 0
	for deadline := time.Now().Add(90 * time.Second); ok < 20; {
		require.True(t, time.Now().Before(deadline), "the partitioned agent still gets calls (%d failed)", failed)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := p.Call(ctx, "add", []any{1, 2}, nil) // not idempotent: never sent again
		cancel()
		if err != nil {
			require.ErrorIs(t, err, remote.ErrAgentLost)
			failed++
			ok = 0
			continue
		}
		ok++
	}
}

// Limit: an answer arrives after the beats sent before it, on one TCP stream, so an answer
// that takes longer than the heartbeat bound to cross the caller's link is taken for a
// silent agent: 900 KB at about 320 KB/s fail with ErrAgentLost (an idempotent call is
// run again, and fails the same way). remote.WithHeartbeat above the largest body's
// transfer time lets it through.
func TestAnAnswerSlowerThanTheHeartbeatBoundIsLost(t *testing.T) {
	s := runServer(t, remote.ServerConfig{})
	startAgent(t, s.ClientURL(), "slowlink")
	pr := testutil.NewProxy(t, s.Addr().String())
	p := dial(t, pr.URL(), "slowlink")
	patient := dial(t, pr.URL(), "slowlink", remote.WithHeartbeat(30*time.Second))
	pr.Slow(50*time.Millisecond, 16<<10) // at most about 320 KB/s
	var b []byte
	err := p.Call(ctxFor(t, 60*time.Second), "big", []any{900 << 10}, &b)
	require.ErrorIs(t, err, remote.ErrAgentLost)
	require.NoError(t, patient.Call(ctxFor(t, 60*time.Second), "big", []any{900 << 10}, &b))
	require.Len(t, b, 900<<10)
}

// Answers the connection delivered just before it dropped are the answers of their calls:
// the pool fails the calls in flight with ErrDisconnected only once it has handled what the
// connection had delivered. It raced the two: a call answered on the wire could fail with
// ErrDisconnected ("may or may not have run") when the drop was noticed first, as it was now
// and then on a loaded machine. Here the answers of hundreds of calls arrive together, and
// the connection ends right after the first chunk of them.
func TestAnswersDeliveredBeforeADropAreKept(t *testing.T) {
	s := runServer(t, remote.ServerConfig{})
	const n = 400
	a := startAgent(t, s.ClientURL(), "burst", remote.AgentPool(bridge.WithConcurrency(n)), remote.AgentMaxInFlight(n))
	pr := testutil.NewProxy(t, s.Addr().String())
	// It reconnects after the test: no message after the drop, so InMsgs stops there.
	nc, err := nats.Connect(pr.URL(), nats.ReconnectWait(time.Hour))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	p, err := remote.Dial(context.Background(), nc, "burst", remote.WithHeartbeat(time.Minute)) // no beat before the answers
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })

	before := nc.Stats().InMsgs
	var ok, dropped atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := p.Call(context.Background(), "sleep", []any{1000}, nil) // they all answer together
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, remote.ErrDisconnected):
				dropped.Add(1)
			default:
				t.Errorf("a call failed otherwise: %v", err)
			}
		}()
	}
	require.Eventually(t, func() bool { return a.Stats().InFlight == n }, 30*time.Second, 5*time.Millisecond)
	pr.CutAfterNextToClient()
	wg.Wait()
	received := int64(nc.Stats().InMsgs - before)
	t.Logf("%d answers delivered before the drop, %d calls answered, %d failed with ErrDisconnected", received, ok.Load(), dropped.Load())
	require.Positive(t, received, "the chunk before the drop held answers")
	assert.Equal(t, received, ok.Load(), "every answer delivered is its call's result")
	assert.Equal(t, int64(n), ok.Load()+dropped.Load())
}
