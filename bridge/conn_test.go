package bridge

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/polyfork/polyfork/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Conn suite: the session's rules as specifications, run over three transports (as
// yamux runs one suite over several), with a Go peer on the other side and no process.

// transport makes a connected pair of streams: what one side writes, the other reads.
type transport struct {
	name string
	pair func(t *testing.T) (a, b stream)
}

type stream struct {
	r io.Reader
	w io.Writer
}

var transports = []transport{
	{"io.Pipe", func(t *testing.T) (stream, stream) {
		ar, bw := io.Pipe()
		br, aw := io.Pipe()
		return stream{ar, aw}, stream{br, bw}
	}},
	{"net.Pipe", func(t *testing.T) (stream, stream) {
		a, b := net.Pipe()
		return stream{a, a}, stream{b, b}
	}},
	{"os.Pipe", func(t *testing.T) (stream, stream) {
		ar, bw, err := os.Pipe()
		require.NoError(t, err)
		br, aw, err := os.Pipe()
		require.NoError(t, err)
		return stream{ar, aw}, stream{br, bw}
	}},
}

func forEachTransport(t *testing.T, fn func(t *testing.T, tr transport)) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { fn(t, tr) })
	}
}

// pair connects a host Conn and a child Conn (child role: it sends $ready, which the host
// reads first, as a Process does).
func pair(t *testing.T, tr transport, hostOpts, childOpts []Option) (host, child *Conn) {
	t.Helper()
	a, b := tr.pair(t)
	made := make(chan *Conn, 1)
	go func() {
		c, err := NewConn(b.r, b.w, append(childOpts, WithChildRole(ReadyInfo{Lang: "go-test", Lib: "conn_test"}, nil))...)
		if err != nil {
			panic(err)
		}
		made <- c
	}()
	info, err := ReadReady(a.r, 0)
	require.NoError(t, err)
	require.Equal(t, "go-test", info.Lang)
	host, err = NewConn(a.r, a.w, hostOpts...)
	require.NoError(t, err)
	child = <-made
	t.Cleanup(func() {
		host.Close()
		child.Close()
	})
	return host, child
}

// rawPeer gives a test the other end of a host Conn as bytes.
func rawPeer(t *testing.T, tr transport, opts ...Option) (*Conn, stream) {
	t.Helper()
	a, b := tr.pair(t)
	host, err := NewConn(a.r, a.w, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		host.Close()
		closeStream(b)
	})
	return host, b
}

func closeStream(s stream) {
	if c, ok := s.r.(io.Closer); ok {
		c.Close()
	}
	if c, ok := s.w.(io.Closer); ok {
		c.Close()
	}
}

func writeFrame(t *testing.T, w io.Writer, body []byte) {
	t.Helper()
	go func() { _, _ = w.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)) }()
}

func echoHandler(ctx context.Context, a Args) (any, error) { return a.Value(0) }

func TestConnCallsMessagesAndNotificationsBothWays(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		ctx := context.Background()
		hostGot, childGot := make(chan any, 1), make(chan any, 1)
		notes := make(chan []any, 1)
		host, child := pair(t, tr,
			[]Option{
				WithHandler("mul", func(ctx context.Context, a Args) (any, error) {
					var x, y int
					err := a.Decode(&x, &y)
					return x * y, err
				}),
				OnMessage(func(v any) { hostGot <- v }),
			},
			[]Option{
				WithHandler("echo", echoHandler),
				OnMessage(func(v any) { childGot <- v }),
				OnNotification("progress", func(a Args) { v, _ := a.Values(); notes <- v }),
			})
		var v any
		require.NoError(t, host.Call(ctx, "echo", []any{map[string]any{"a": []any{int64(1), "é"}}}, &v))
		assert.Equal(t, map[string]any{"a": []any{int64(1), "é"}}, v)
		var n int
		require.NoError(t, child.Call(ctx, "mul", []any{6, 7}, &n))
		assert.Equal(t, 42, n)

		require.NoError(t, host.Send(ctx, "to child"))
		assert.Equal(t, "to child", <-childGot)
		require.NoError(t, child.Send(ctx, "to host"))
		assert.Equal(t, "to host", <-hostGot)
		require.NoError(t, host.Notify(ctx, "progress", 1, "two"))
		assert.Equal(t, []any{int64(1), "two"}, <-notes)

		var re *RemoteError
		require.ErrorAs(t, host.Call(ctx, "missing", nil, nil), &re)
		assert.Equal(t, protocol.TypeMethodNotFound, re.Type)
		assert.Error(t, host.Notify(ctx, "$stop"), "reserved names are refused")
	})
}

func TestConnAnswersOutOfOrder(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		host, _ := pair(t, tr, nil, []Option{WithHandler("wait", func(ctx context.Context, a Args) (any, error) {
			var ms, i int
			_ = a.Decode(&ms, &i)
			time.Sleep(time.Duration(ms) * time.Millisecond)
			return i, nil
		})})
		const n = 40
		order := make(chan int, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var got int
				require.NoError(t, host.Call(context.Background(), "wait", []any{(n - i) * 3, i}, &got))
				assert.Equal(t, i, got)
				order <- got
			}()
		}
		wg.Wait()
		close(order)
		first := <-order
		assert.NotEqual(t, 0, first, "the call that slept longest did not answer first")
	})
}

func TestConnCancelReachesTheHandlerAndTheLateAnswerIsDropped(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		sawCancel := make(chan struct{})
		release := make(chan struct{})
		host, _ := pair(t, tr, nil, []Option{WithHandler("echo", echoHandler), WithHandler("slow", func(ctx context.Context, a Args) (any, error) {
			<-ctx.Done()
			close(sawCancel)
			<-release
			return "too late", nil // answered after the host gave up: dropped
		})})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		err := host.Call(ctx, "slow", nil, nil)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		<-sawCancel
		close(release)
		var v int
		require.NoError(t, host.Call(context.Background(), "echo", []any{7}, &v))
		assert.Equal(t, 7, v)
		assert.NoError(t, host.Err(), "the late answer did not end the session")
	})
}

func TestConnIDsWrapAroundAndSkipIDsInUse(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		release := make(chan struct{})
		host, _ := pair(t, tr, nil, []Option{
			WithHandler("echo", echoHandler),
			WithHandler("hold", func(ctx context.Context, a Args) (any, error) { <-release; return "held", nil }),
		})
		ctx := context.Background()
		// A call given up on keeps its id reserved until its late answer comes.
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		require.ErrorIs(t, host.Call(short, "hold", nil, nil), context.DeadlineExceeded)
		cancel()
		held := make(chan error, 1)
		go func() { held <- host.Call(ctx, "hold", nil, nil) }()
		eventually(t, "the held call in flight", func() bool { return host.InFlight() == 1 })
		// Push a free slot's generation to the end of its range: the next ids wrap.
		host.calls.mu.Lock()
		for i := range host.calls.slots {
			if host.calls.slots[i].c == nil && !host.calls.slots[i].abandoned {
				host.calls.slots[i].gen = 1<<(32-slotBits) - 2
			}
		}
		host.calls.mu.Unlock()
		seen := map[uint32]bool{}
		for i := 0; i < 5; i++ {
			c := newCall("probe")
			id, err := host.calls.add(c)
			require.NoError(t, err)
			assert.False(t, seen[id], "id %d given twice while in flight", id)
			seen[id] = true
			defer host.calls.forget(id, c)
			var v int
			require.NoError(t, host.Call(ctx, "echo", []any{i}, &v), "calls go on across the wrap")
			assert.Equal(t, i, v)
		}
		close(release) // the late answer to the abandoned call arrives now and is dropped
		require.NoError(t, <-held)
		var v int
		require.NoError(t, host.Call(ctx, "echo", []any{9}, &v))
		assert.Equal(t, 9, v)
		assert.NoError(t, host.Err())
	})
}

func TestConnEveryPendingCallFailsWhenTheReaderDies(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		host, peer := rawPeer(t, tr)
		var wg sync.WaitGroup
		errs := make(chan error, 10)
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- host.Call(context.Background(), "never", nil, nil)
			}()
		}
		go io.Copy(io.Discard, peer.r)
		eventually(t, "ten calls in flight", func() bool { return host.InFlight() == 10 })
		if c, ok := peer.w.(io.Closer); ok && any(peer.w) != any(peer.r) {
			c.Close() // end of input for the host
		} else {
			closeStream(peer)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.Error(t, err)
			assert.True(t, errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, os.ErrClosed), "got %v", err)
		}
		<-host.Done()
		assert.Error(t, host.Call(context.Background(), "later", nil, nil), "later calls fail too")
	})
}

func TestConnDecodeBombEndsTheSession(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		host, peer := rawPeer(t, tr, WithName("bomber"))
		go io.Copy(io.Discard, peer.r)
		pending := make(chan error, 1)
		go func() { pending <- host.Call(context.Background(), "x", nil, nil) }()
		eventually(t, "a call in flight", func() bool { return host.InFlight() == 1 })
		writeFrame(t, peer.w, []byte{0xdd, 0xff, 0xff, 0xff, 0xff})
		err := <-pending
		require.ErrorIs(t, err, ErrProtocol)
		requireContains(t, err, "bomber broke the protocol", "array of 4294967295 elements cannot fit")
		<-host.Done()
		assert.ErrorIs(t, host.Err(), ErrProtocol)
	})
}

func TestConnValueCountLimitBothWays(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		host, _ := pair(t, tr, []Option{WithMaxValues(100)}, []Option{WithHandler("echo", echoHandler)})
		ctx := context.Background()
		err := host.Call(ctx, "echo", []any{make([]any, 200)}, nil)
		require.ErrorIs(t, err, ErrUnsendable)
		require.ErrorIs(t, err, protocol.ErrTooManyValues)
		var v []any
		require.NoError(t, host.Call(ctx, "echo", []any{make([]any, 50)}, &v), "the session is unharmed")
		assert.Len(t, v, 50)
	})
	forEachTransport(t, func(t *testing.T, tr transport) {
		host, peer := rawPeer(t, tr, WithMaxValues(100))
		go io.Copy(io.Discard, peer.r)
		enc := protocol.NewEncoder()
		frame, err := enc.Notification("message", []any{make([]any, 200)})
		require.NoError(t, err)
		writeFrame(t, peer.w, frame[4:])
		<-host.Done()
		assert.ErrorIs(t, host.Err(), protocol.ErrTooManyValues, "received over the limit: a protocol error")
	})
}

func TestConnRefusesUnsendableParamsAndStaysUp(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		host, _ := pair(t, tr, nil, []Option{WithHandler("echo", echoHandler)})
		ctx := context.Background()
		for name, call := range map[string]func() error{
			"method not UTF-8": func() error { return host.Call(ctx, "\xff", nil, nil) },
			"empty method":     func() error { return host.Call(ctx, "", nil, nil) },
			"reserved method":  func() error { return host.Call(ctx, "$stop", nil, nil) },
			"200 levels deep":  func() error { return host.Call(ctx, "echo", []any{deepList(200)}, nil) },
			"no msgpack form":  func() error { return host.Call(ctx, "echo", []any{make(chan int)}, nil) },
			"message too deep": func() error { return host.Send(ctx, deepList(200)) },
		} {
			require.ErrorIs(t, call(), ErrUnsendable, name)
		}
		var v any
		require.NoError(t, host.Call(ctx, "echo", []any{deepList(120)}, &v))
		assert.NoError(t, host.Err())
	})
}

func TestConnHandlerPanicIsAnError(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		host, _ := pair(t, tr, nil, []Option{WithHandler("boom", func(ctx context.Context, a Args) (any, error) { panic("kaput") })})
		var re *RemoteError
		require.ErrorAs(t, host.Call(context.Background(), "boom", nil, nil), &re)
		assert.Equal(t, "panic", re.Type)
		assert.Equal(t, "kaput", re.Message)
		assert.Contains(t, re.Traceback, "conn_test.go")
	})
}

func TestConnCloseIsSafeTwiceAndEndsEverything(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		host, child := pair(t, tr, nil, []Option{WithHandler("hold", func(ctx context.Context, a Args) (any, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})})
		pending := make(chan error, 1)
		go func() { pending <- host.Call(context.Background(), "hold", nil, nil) }()
		eventually(t, "a call in flight", func() bool { return host.InFlight() == 1 })
		var wg sync.WaitGroup
		for i := 0; i < 3; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				assert.NoError(t, host.Close())
			}()
		}
		wg.Wait()
		require.ErrorIs(t, <-pending, ErrClosed)
		select {
		case <-host.Done():
		default:
			t.Fatal("Close returned before the Conn's goroutines ended")
		}
		assert.ErrorIs(t, host.Err(), ErrClosed)
		assert.ErrorIs(t, host.Call(context.Background(), "x", nil, nil), ErrClosed)
		// The child saw its input end, which means $stop: it waits for its running handler,
		// which only a cancellation ends (its own Close, at cleanup).
		_ = child
	})
}

func TestConnBlockedWriterHonoursContexts(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		host, _ := rawPeer(t, tr) // nobody reads what the host writes
		big := make([]byte, 1<<20)
		var sent int
		for i := 0; i < 32; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			err := host.Send(ctx, big)
			cancel()
			if err != nil {
				require.ErrorIs(t, err, context.DeadlineExceeded)
				break
			}
			sent++
		}
		assert.Less(t, sent, 32, "sends stop at the writer's bound instead of queueing 32 MiB")
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		require.ErrorIs(t, host.Call(ctx, "x", nil, nil), context.DeadlineExceeded)
		closed := make(chan struct{})
		go func() { host.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatal("Close hung on a peer that does not read")
		}
	})
}

func TestConnNotificationHandlerCanCallBackDuringAFlood(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		const n = 3000
		var host *Conn
		var done atomic.Int64
		finished := make(chan struct{})
		ready := make(chan struct{})
		h, child := pair(t, tr,
			[]Option{OnMessage(func(v any) {
				<-ready
				var back any
				if err := host.Call(context.Background(), "echo", []any{v}, &back); err != nil {
					t.Errorf("call from a message handler: %v", err)
				}
				if done.Add(1) == n {
					close(finished)
				}
			})},
			[]Option{WithHandler("echo", echoHandler)})
		host = h
		close(ready)
		for i := 0; i < n; i++ {
			require.NoError(t, child.Send(context.Background(), i))
		}
		select {
		case <-finished:
		case <-time.After(60 * time.Second):
			t.Fatalf("only %d of %d message handlers got their answer", done.Load(), n)
		}
	})
}

func TestConnRequestHandlersCanCallBackBeyondTheServingLimit(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		const n = maxServing + 500
		var host *Conn
		ready := make(chan struct{})
		h, child := pair(t, tr,
			[]Option{WithHandler("back", func(ctx context.Context, a Args) (any, error) {
				<-ready
				var v any
				err := host.Call(ctx, "echo", []any{"x"}, &v)
				return v, err
			})},
			[]Option{WithHandler("echo", echoHandler)})
		host = h
		close(ready)
		var wg sync.WaitGroup
		var failed atomic.Int64
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := child.Call(context.Background(), "back", nil, nil); err != nil {
					failed.Add(1)
				}
			}()
		}
		wg.Wait()
		assert.Zero(t, failed.Load())
	})
}

func TestConnBacklogPastTheHardLimitEndsTheSessionClearly(t *testing.T) {
	tr := transports[0]
	block := make(chan struct{})
	defer close(block)
	host, child := pair(t, tr,
		[]Option{OnMessage(func(v any) { <-block })}, // a handler that never catches up
		[]Option{WithHandler("never", func(ctx context.Context, a Args) (any, error) { <-ctx.Done(); return nil, ctx.Err() })})
	pending := make(chan error, 1)
	go func() { pending <- host.Call(context.Background(), "never", nil, nil) }() // keeps the reader reading
	eventually(t, "a call in flight", func() bool { return host.InFlight() == 1 })
	go func() {
		for i := 0; i < hardBacklogItems+10; i++ {
			if child.Send(context.Background(), i) != nil {
				return
			}
		}
	}()
	err := <-pending
	requireContains(t, err, "handlers fell behind")
}

func TestConnChildRoleRefusesRequestsAfterStop(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		stopped := make(chan struct{})
		a, b := tr.pair(t)
		go func() {
			c, err := NewConn(b.r, b.w, WithHandler("echo", echoHandler),
				WithChildRole(ReadyInfo{Lang: "go-test"}, func() { close(stopped) }))
			if err == nil {
				t.Cleanup(func() { c.Close() })
			}
		}()
		_, err := ReadReady(a.r, 0)
		require.NoError(t, err)
		host, err := NewConn(a.r, a.w)
		require.NoError(t, err)
		t.Cleanup(func() { host.Close() })
		require.NoError(t, host.sendNotification(context.Background(), protocol.MethodStop, nil))
		<-stopped
		err = host.Call(context.Background(), "echo", []any{1}, nil)
		require.ErrorIs(t, err, ErrStopping)
		var re *RemoteError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, "Stopping", re.Type)
		assert.Contains(t, re.Message, `"echo"`)
	})
}

func TestConnChildRoleFinishesRunningHandlersAtEndOfInput(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		if tr.name == "net.Pipe" {
			t.Skip("net.Pipe cannot close one direction")
		}
		started := make(chan struct{})
		host, child := pair(t, tr, nil, []Option{WithHandler("slow", func(ctx context.Context, a Args) (any, error) {
			close(started)
			time.Sleep(100 * time.Millisecond)
			return "finished", nil
		})})
		res := make(chan error, 1)
		var s string
		go func() { res <- host.Call(context.Background(), "slow", nil, &s) }()
		<-started
		host.closeOutput() // end of input for the child, which means $stop
		require.NoError(t, <-res)
		assert.Equal(t, "finished", s)
		<-child.Done()
		assert.ErrorIs(t, child.Err(), io.EOF)
	})
}

func TestConnOptionsAreValidatedTogether(t *testing.T) {
	r, w := io.Pipe()
	defer r.Close()
	_, err := NewConn(r, w, WithMaxFrameSize(1), WithHandler("$x", echoHandler), WithWorkers(2), WithEnv("A=1"))
	require.ErrorIs(t, err, ErrInvalidOption)
	for _, want := range []string{"WithMaxFrameSize: 1 is outside", `WithHandler: method "$x"`, "WithWorkers: applies to a Pool, not to a Conn"} {
		assert.Contains(t, err.Error(), want)
	}
	var oe *OptionError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "WithMaxFrameSize", oe.Option)
	fmt.Fprint(io.Discard, oe)
}

// Work tracked for Done (an end by a write error, a $cancel) is not started once the session
// has ended and Done's wait began: such a goroutine would outlive Done, and its WaitGroup Add
// could race that wait.
func TestNoTrackedWorkStartsAfterTheEnd(t *testing.T) {
	host, _ := pair(t, transports[0], nil, nil)
	require.NoError(t, host.Close())
	<-host.Done()
	ran := make(chan struct{})
	host.goTracked(func() { close(ran) })
	select {
	case <-ran:
		t.Fatal("tracked work started after Done")
	case <-time.After(50 * time.Millisecond):
	}
}

// TestReadReadyNamesBytesBeforeTheReadyFrame: a child that wrote a byte to stdout before its
// library sent $ready gets an error that says the $ready frame follows them; the byte alone
// is too short for the quote to show it as text.
func TestReadReadyNamesBytesBeforeTheReadyFrame(t *testing.T) {
	body, err := protocol.Marshal([]any{2, protocol.MethodReady,
		[]any{map[string]any{"protocol": 1, "lang": "x", "pid": 1, "lib": "x/1"}}})
	require.NoError(t, err)
	var frame bytes.Buffer
	require.NoError(t, protocol.WriteFrame(&frame, body))

	_, err = ReadReady(bytes.NewReader(append([]byte("x"), frame.Bytes()...)), 0)
	require.ErrorIs(t, err, ErrProtocol)
	assert.Contains(t, err.Error(), "a $ready frame follows the first 1 bytes, which something wrote to stdout")
	assert.ErrorIs(t, err, ErrStrayOutput)
	assert.ErrorIs(t, err, protocol.ErrFrameTooLarge)

	_, err = ReadReady(bytes.NewReader(append([]byte("\x1b[0m"), frame.Bytes()...)), 0)
	assert.Contains(t, err.Error(), "a $ready frame follows the first 4 bytes")

	// Garbage with no frame after it says nothing of the kind.
	_, err = ReadReady(bytes.NewReader([]byte("\xff\xff\xff\xff\x00\x01")), 0)
	require.ErrorIs(t, err, ErrProtocol)
	assert.NotContains(t, err.Error(), "follows")
	assert.NotErrorIs(t, err, ErrStrayOutput)
}

// TestConnChildRoleEndOfInputWaitsForMessageHandlers: a child whose input ends while a
// message handler runs lets the handler finish and sends what it sends, as $stop does
// (Drain) and as the Python, PHP and Node clients do. The Go child lost the reply to the
// last line of "polyfork send": end of input ended the session at once, and the handler's
// Send failed.
func TestConnChildRoleEndOfInputWaitsForMessageHandlers(t *testing.T) {
	ar, bw := io.Pipe() // child -> host
	br, aw := io.Pipe() // host -> child
	gate := make(chan struct{})
	stopped := make(chan struct{})
	c := childRoleConn(t, br, bw, ar, stopped, func(self *Conn, v any) {
		<-gate
		_ = self.Send(context.Background(), map[string]any{"echo": v})
	})
	defer c.Close()

	body, err := protocol.Marshal([]any{2, "message", []any{"x"}})
	require.NoError(t, err)
	require.NoError(t, protocol.WriteFrame(aw, body))
	require.NoError(t, aw.Close()) // end of input, while the handler waits at the gate
	<-stopped
	select { // the old code ended the session here; give it the chance to
	case <-c.Done():
	case <-time.After(200 * time.Millisecond):
	}
	close(gate)

	got := make(chan any, 1)
	go func() {
		fr := protocol.NewFrameReader(ar)
		for {
			frame, err := fr.ReadFrame()
			if err != nil {
				got <- err
				return
			}
			m, err := protocol.DecodeMessage(frame, 0)
			if err == nil && m.Kind == protocol.KindNotification && m.Method == "message" {
				v, _ := protocol.DecodeValue(m.Params)
				got <- v
				return
			}
		}
	}()
	select {
	case v := <-got:
		assert.Equal(t, []any{map[string]any{"echo": "x"}}, v)
	case <-time.After(10 * time.Second):
		t.Fatal("no message and no end of the stream")
	}
}

// TestConnChildRoleEndOfInputFailsCallsToTheHost: once a child's input has ended, no answer
// can come, so a message handler that calls the host then gets io.EOF at once, and the
// session ends (end of input waits for the handlers).
func TestConnChildRoleEndOfInputFailsCallsToTheHost(t *testing.T) {
	ar, bw := io.Pipe() // child -> host
	br, aw := io.Pipe() // host -> child
	gate := make(chan struct{})
	stopped := make(chan struct{})
	callErr := make(chan error, 1)
	c := childRoleConn(t, br, bw, ar, stopped, func(self *Conn, v any) {
		<-gate
		callErr <- self.Call(context.Background(), "lookup", []any{v}, nil)
	})
	defer c.Close()
	go io.Copy(io.Discard, ar)

	body, err := protocol.Marshal([]any{2, "message", []any{"x"}})
	require.NoError(t, err)
	require.NoError(t, protocol.WriteFrame(aw, body))
	require.NoError(t, aw.Close())
	<-stopped
	close(gate)
	select {
	case err := <-callErr:
		assert.ErrorIs(t, err, io.EOF)
	case <-time.After(10 * time.Second):
		t.Fatal("a call to the host after the end of input is still waiting")
	}
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the session did not end")
	}
}

// childRoleConn makes a Conn in the child role over in (from the host) and out (to it),
// whose message handler is onMessage (given the Conn itself), reads its $ready from
// ready (the host's end of out), and closes stopped when the session stops.
func childRoleConn(t *testing.T, in io.Reader, out io.Writer, ready io.Reader, stopped chan struct{}, onMessage func(self *Conn, v any)) *Conn {
	t.Helper()
	made := make(chan *Conn, 1)
	var self atomic.Pointer[Conn]
	go func() { // NewConn in the child role writes $ready, which the pipe holds until read
		c, err := NewConn(in, out,
			OnMessage(func(v any) { onMessage(self.Load(), v) }),
			WithChildRole(ReadyInfo{Lang: "go-test"}, func() { close(stopped) }))
		if err != nil {
			panic(err)
		}
		self.Store(c)
		made <- c
	}()
	_, err := ReadReady(ready, 0)
	require.NoError(t, err)
	return <-made
}
