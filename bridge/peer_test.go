package bridge

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/polyfork/polyfork/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNotificationFloodIsBounded: a peer that sends notifications faster than the handler
// takes them is held back (its writes block) instead of growing this process's memory.
func TestNotificationFloodIsBounded(t *testing.T) {
	r, w := io.Pipe()
	release := make(chan struct{})
	var handled atomic.Int64
	cfg := defaultConfig()
	cfg.notify["big"] = func(Args) {
		<-release
		handled.Add(1)
	}
	p := newPeer(r, io.Discard, cfg)
	p.start()
	defer p.fail(ErrClosed)

	enc := protocol.NewEncoder()
	blob := strings.Repeat("x", 1<<20)
	var written atomic.Int64
	const total = 200
	go func() {
		for i := 0; i < total; i++ {
			frame, err := enc.Notification("big", []any{blob})
			if err != nil {
				return
			}
			if _, err := w.Write(frame); err != nil {
				return
			}
			written.Add(1)
		}
	}()
	eventually(t, "the queue fills", func() bool { return written.Load() >= 60 })
	time.Sleep(200 * time.Millisecond) // give an unbounded reader the chance to run away
	p.qmu.Lock()
	queued := p.qbytes
	p.qmu.Unlock()
	assert.LessOrEqual(t, queued, notifyBytes+(1<<20)+64, "bytes held for the handler")
	assert.Less(t, written.Load(), int64(80), "the writer was held back")
	close(release)
	eventually(t, "every notification handled", func() bool { return handled.Load() == total })
}

// TestRequestFloodIsBounded: at most maxServing requests from the other side run at once.
func TestRequestFloodIsBounded(t *testing.T) {
	r, w := io.Pipe()
	release := make(chan struct{})
	var running, peak atomic.Int64
	var mu sync.Mutex
	cfg := defaultConfig()
	cfg.handlers["wait"] = func(ctx context.Context, a Args) (any, error) {
		n := running.Add(1)
		mu.Lock()
		if n > peak.Load() {
			peak.Store(n)
		}
		mu.Unlock()
		<-release
		running.Add(-1)
		return nil, nil
	}
	p := newPeer(r, io.Discard, cfg)
	p.start()
	defer p.fail(ErrClosed)
	enc := protocol.NewEncoder()
	var written atomic.Int64
	go func() {
		for i := 0; i < maxServing+100; i++ {
			frame, _ := enc.Request(uint32(i), "wait", nil)
			if _, err := w.Write(frame); err != nil {
				return
			}
			written.Add(1)
		}
	}()
	eventually(t, "the handlers fill up", func() bool { return running.Load() == maxServing })
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, int64(maxServing), peak.Load())
	close(release)
	eventually(t, "every request served", func() bool { return written.Load() == maxServing+100 && running.Load() == 0 })
	require.LessOrEqual(t, peak.Load(), int64(maxServing))
}

// TestCallHonoursContextWhileTheWriteIsBlocked: a peer that stops reading cannot hold a
// call past its context. Nothing written: the call is simply gone. Half written: the rest
// of the frame follows in the background, then $cancel, so the stream stays well-formed.
func TestCallHonoursContextWhileTheWriteIsBlocked(t *testing.T) {
	host, other := net.Pipe()
	defer other.Close()
	p := newPeer(host, host, defaultConfig())
	p.start()
	defer p.fail(ErrClosed)
	big := strings.Repeat("x", 1<<20)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := p.call(ctx, "echo", []any{big}, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded, "nobody reads: the call gives up")
	assert.Equal(t, 0, p.pendingCount())

	// Read a little, then stop: the frame is half written when the context ends.
	head := make([]byte, 10)
	go io.ReadFull(other, head)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	err = p.call(ctx2, "echo", []any{big}, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// Reading again, the other side gets the whole request, then $cancel for it.
	rest := protocol.NewFrameReader(io.MultiReader(bytesReaderOf(head), other))
	frame, err := rest.ReadFrame()
	require.NoError(t, err)
	m, err := protocol.DecodeMessage(frame)
	require.NoError(t, err)
	require.Equal(t, protocol.KindRequest, m.Kind)
	id := m.ID
	frame, err = rest.ReadFrame()
	require.NoError(t, err)
	m, err = protocol.DecodeMessage(frame)
	require.NoError(t, err)
	assert.Equal(t, protocol.MethodCancel, m.Method)
	var args []uint32
	require.NoError(t, protocol.Unmarshal(m.Params, &args))
	assert.Equal(t, []uint32{id}, args)
}

func bytesReaderOf(b []byte) io.Reader { return strings.NewReader(string(b)) }

// TestMessageNeedsExactlyOneParam: a "message" notification carries one value (SPEC 4.3);
// the host treats anything else as a protocol error.
func TestMessageNeedsExactlyOneParam(t *testing.T) {
	r, w := io.Pipe()
	p := newPeer(r, io.Discard, defaultConfig())
	ended := make(chan error, 1)
	p.onReadEnd = func(err error) { ended <- err }
	p.start()
	defer p.fail(ErrClosed)
	frame, err := protocol.NewEncoder().Notification(protocol.MethodMessage, []any{1, 2})
	require.NoError(t, err)
	go w.Write(frame)
	select {
	case err := <-ended:
		assert.ErrorContains(t, err, `"message" params must be [value], exactly one element, got [1 2]`)
	case <-time.After(10 * time.Second):
		t.Fatal("the malformed message was accepted")
	}
}
