package bridge

import (
	"bytes"
	"context"
	"encoding/binary"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingWriter records each Write's bytes.
type countingWriter struct {
	mu     sync.Mutex
	writes [][]byte
}

func (w *countingWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, bytes.Clone(b))
	return len(b), nil
}

// frames splits the written bytes into frame bodies.
func (w *countingWriter) frames(t *testing.T) []string {
	w.mu.Lock()
	all := bytes.Join(w.writes, nil)
	w.mu.Unlock()
	var out []string
	for len(all) > 0 {
		require.GreaterOrEqual(t, len(all), 4, "a length prefix cut short")
		n := int(binary.BigEndian.Uint32(all))
		require.GreaterOrEqual(t, len(all), 4+n, "a frame cut short")
		out = append(out, string(all[4:4+n]))
		all = all[4+n:]
	}
	return out
}

func testFrame(body string) []byte {
	f := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	return append(f, body...)
}

// sendTogether runs n senders on one P and waits for them (and the writer's goroutines).
func sendTogether(t *testing.T, fw *frameWriter, n int) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, fw.send(context.Background(), testFrame(string(rune('a'+i)))))
		}()
	}
	wg.Wait()
	fw.wg.Wait()
}

// Under load (others: more calls in flight), the senders that are ready together leave in
// one write instead of one system call each: on one CPU they would otherwise write one
// after the other, never overlapping.
func TestWriterCoalescesSendersThatAreReadyTogether(t *testing.T) {
	w := &countingWriter{}
	fw := newFrameWriter(w, func(error) {})
	fw.others = func() bool { return true }
	sendTogether(t, fw, 8)
	assert.ElementsMatch(t, []string{"a", "b", "c", "d", "e", "f", "g", "h"}, w.frames(t), "every frame, whole, once")
	assert.LessOrEqual(t, len(w.writes), 2, "8 ready senders should share a write, got %d writes", len(w.writes))
}

// A lone sender (no other call in flight) writes at once, without yielding: its latency is
// what the one-call-in-flight p50 measures.
func TestWriterWritesALoneSenderAtOnce(t *testing.T) {
	w := &countingWriter{}
	fw := newFrameWriter(w, func(error) {})
	fw.others = func() bool { return false }
	sendTogether(t, fw, 8)
	assert.Len(t, w.frames(t), 8)
	assert.Len(t, w.writes, 8, "without others in flight each send is its own write")
}

// Frames from one sender keep their order, coalesced or not, and a frame larger than
// coalesceMax is written as before.
func TestWriterCoalescingKeepsOneSendersOrder(t *testing.T) {
	w := &countingWriter{}
	fw := newFrameWriter(w, func(error) {})
	fw.others = func() bool { return true }
	big := string(bytes.Repeat([]byte("z"), coalesceMax+1))
	want := []string{"1", "2", big, "3"}
	for _, body := range want {
		require.NoError(t, fw.send(context.Background(), testFrame(body)))
	}
	fw.wg.Wait()
	assert.Equal(t, want, w.frames(t))
}
