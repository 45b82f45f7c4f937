package bridge

import (
	"bytes"
	"context"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// Tests of callers that read their own answer (lead.go). A caller whose call is the only
// one in flight leads; sequential calls each lead, as these do.

// A leader whose context ends is stopped by a read deadline; the deadline must not be left
// for the next leader, whose read would then fail at once with no context ended, which
// ends the session.
func TestALeaderLeftByItsContextLeavesNothingForTheNext(t *testing.T) {
	checkNoLeaks(t)
	p := start(t, child("serve"))
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		err := p.Call(ctx, "sleep", []any{5000}, nil)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded, "round %d", i)
		for j := range 5 {
			var s string
			require.NoError(t, p.Call(context.Background(), "echo", []any{"after"}, &s), "round %d, call %d", i, j)
			require.Equal(t, "after", s)
		}
	}
	require.NoError(t, p.Close())
}

// A child that exits while a grandchild holds its stdout open: the host reads no end of
// file, and after a second gives up on the stream by closing it. A leader waiting then must
// end with the session, not wait for an answer that cannot come.
func TestALeaderWaitingWhenTheChildDiesBehindAGrandchildHoldingItsOutput(t *testing.T) {
	checkNoLeaks(t)
	p := start(t, child("setsid_stdout_grandchild"))
	var s string
	require.NoError(t, p.Call(context.Background(), "env", []any{"GRANDCHILD_PID"}, &s))
	gc, err := strconv.Atoi(s)
	require.NoError(t, err)
	t.Cleanup(func() { _ = syscall.Kill(gc, syscall.SIGKILL) })

	done := make(chan error, 1)
	go func() { done <- p.Call(context.Background(), "exit", []any{3}, nil) }()
	select {
	case err := <-done:
		require.Error(t, err)
		var ee *ExitError
		require.ErrorAs(t, err, &ee, "the call fails with the child's exit")
		assert.Equal(t, 3, ee.Code)
	case <-time.After(20 * time.Second):
		t.Fatal("the call did not return after the child's exit")
	}
	require.Error(t, p.Wait())
	_ = syscall.Kill(gc, syscall.SIGKILL)
}

// Many goroutines calling one child: leaders come and go, cancelled or not, among calls
// the background reader answers. Every call ends with its own answer or its context's
// error, and the session survives.
func TestLeadersAmongConcurrentCallsAndCancellations(t *testing.T) {
	checkNoLeaks(t)
	p := start(t, child("serve"))
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 200 {
				want := strconv.Itoa(g*1000 + i)
				ctx, cancel := context.WithCancel(context.Background())
				if i%7 == 0 {
					go cancel()
				}
				var got string
				err := p.Call(ctx, "echo", []any{want}, &got)
				cancel()
				if err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
				if err == nil && got != want {
					errs <- assert.AnError
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		require.NoError(t, <-errs)
	}
	var s string
	require.NoError(t, p.Call(context.Background(), "echo", []any{"still"}, &s))
	require.NoError(t, p.Close())
}

// A leader decodes its result straight from the frame it read (no copy): what it hands its
// caller must not share that frame's memory, which the next read reuses. Results around
// the size from which the reader detaches a frame instead (detachAt), in every target the
// decoders fill from bytes, must stay as they came after later calls.
func TestALeaderHandsOverResultsThatOutliveTheFrame(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	p := start(t, child("serve"))
	for _, size := range []int{1, 31, 32<<10 - 64, detachAt - 1, detachAt, detachAt + 1} {
		var bins [][]byte
		var raws []msgpack.RawMessage
		var anys []any
		for i := range 3 {
			fill := bytes.Repeat([]byte{byte('a' + i)}, size)
			var b []byte
			require.NoError(t, p.Call(ctx, "echo", []any{fill}, &b), "size %d", size)
			var r msgpack.RawMessage
			require.NoError(t, p.Call(ctx, "echo", []any{fill}, &r), "size %d", size)
			var a any
			require.NoError(t, p.Call(ctx, "echo", []any{fill}, &a), "size %d", size)
			bins, raws, anys = append(bins, b), append(raws, r), append(anys, a)
		}
		for i := range 3 {
			fill := bytes.Repeat([]byte{byte('a' + i)}, size)
			require.Equal(t, fill, bins[i], "[]byte %d of size %d", i, size)
			var back []byte
			require.NoError(t, msgpack.Unmarshal(raws[i], &back))
			require.Equal(t, fill, back, "RawMessage %d of size %d", i, size)
			require.Equal(t, fill, anys[i], "any %d of size %d", i, size)
		}
	}
	require.NoError(t, p.Close())
}

// goexitResult is a result type whose decoder ends its goroutine, as t.FailNow does.
type goexitResult struct{}

func (*goexitResult) DecodeMsgpack(*msgpack.Decoder) error {
	runtime.Goexit()
	return nil
}

// A leader decodes its result while it holds the stream (its frame must not be read over
// first): however that decoding ends, with the caller's decoder ending the goroutine, or
// panicking, the stream must be given back. It was not, and no later call on the session
// was ever answered.
func TestALeaderGivesTheStreamBackHoweverItsDecodingEnds(t *testing.T) {
	host, _ := pair(t, transports[2], nil, []Option{WithHandler("echo", echoHandler)}) // os.Pipe: leaders
	ctx := context.Background()
	for i := range 20 {
		var s string
		require.NoError(t, host.Call(ctx, "echo", []any{"before"}, &s)) // the next call leads
		done := make(chan struct{})
		go func() {
			defer close(done)
			var r goexitResult
			_ = host.Call(ctx, "echo", []any{"x"}, &r)
		}()
		<-done
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := host.Call(tctx, "echo", []any{"after"}, &s)
		cancel()
		require.NoError(t, err, "round %d", i)
		require.Equal(t, "after", s)
	}
}

// nestedResult is a result type whose decoder calls the session it came from.
type nestedResult struct {
	host *Conn
	ctx  context.Context
	got  string
	err  error
}

func (r *nestedResult) DecodeMsgpack(dec *msgpack.Decoder) error {
	s, err := dec.DecodeString()
	if err != nil {
		return err
	}
	r.err = r.host.Call(r.ctx, "echo", []any{s + " again"}, &r.got)
	return nil
}

// A result type's decoder is the caller's code, and may call the session back (to resolve
// a reference, say). A leader that decoded it while holding the stream left that call with
// nobody to read its answer: it waited for its context. Results of types whose decoding
// runs no code of the caller's are still decoded from the frame.
func TestAResultDecoderMayCallTheSessionBack(t *testing.T) {
	host, _ := pair(t, transports[2], nil, []Option{WithHandler("echo", echoHandler)}) // os.Pipe: leaders
	for i := range 20 {
		var s string
		require.NoError(t, host.Call(context.Background(), "echo", []any{"before"}, &s)) // the next call leads
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r := nestedResult{host: host, ctx: ctx}
		err := host.Call(ctx, "echo", []any{"x"}, &r)
		cancel()
		require.NoError(t, err, "round %d", i)
		require.NoError(t, r.err, "round %d: the decoder's own call", i)
		require.Equal(t, "x again", r.got)
	}
}
