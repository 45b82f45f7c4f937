package bridge

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/polyfork/polyfork/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFrameWriterCoalescesWithoutInterleaving: many senders at once, frames of many sizes;
// every frame arrives whole, and each sender's frames arrive in the order it sent them.
func TestFrameWriterCoalescesWithoutInterleaving(t *testing.T) {
	r, w := io.Pipe()
	fw := newFrameWriter(w, func(error) {})
	const senders, each = 16, 300
	var wg sync.WaitGroup
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			enc := protocol.NewEncoder()
			for i := 0; i < each; i++ {
				pad := strings.Repeat("x", (g*7919+i*104729)%70000)
				frame, err := enc.Notification("n", []any{g, i, pad})
				require.NoError(t, err)
				require.NoError(t, fw.send(context.Background(), frame))
			}
		}(g)
	}
	next := make([]int, senders)
	fr := protocol.NewFrameReader(r)
	for n := 0; n < senders*each; n++ {
		body, err := fr.ReadFrame()
		require.NoError(t, err)
		m, err := protocol.DecodeMessage(body)
		require.NoError(t, err)
		var g, i int
		var pad string
		require.NoError(t, (Args{items: mustSplit(t, m.Params)}).Decode(&g, &i, &pad))
		require.Equal(t, next[g], i, "sender %d out of order", g)
		require.Len(t, pad, (g*7919+i*104729)%70000)
		next[g]++
	}
	wg.Wait()
}

func mustSplit(t *testing.T, b []byte) [][]byte {
	items, err := protocol.SplitArray(b)
	require.NoError(t, err)
	return items
}

// TestFrameWriterErrorIsSticky: after a failed write every send fails, and onErr runs once.
func TestFrameWriterErrorIsSticky(t *testing.T) {
	r, w := io.Pipe()
	r.CloseWithError(errors.New("reader gone"))
	var calls atomic.Int32
	fw := newFrameWriter(w, func(error) { calls.Add(1) })
	for i := 0; i < 3; i++ {
		err := fw.send(context.Background(), []byte{0, 0, 0, 1, 0xc0})
		assert.ErrorContains(t, err, "reader gone")
	}
	assert.Equal(t, int32(1), calls.Load())
}

// TestFrameWriterQueueBuffersNeverShared: frames from many senders through a reader that
// takes small bites, with a small queue limit so that queue buffers outgrow it again and
// again: every frame arrives intact. (A queue buffer once shared with the batch being
// written let new frames overwrite frames on the wire.)
func TestFrameWriterQueueBuffersNeverShared(t *testing.T) {
	r, w := io.Pipe()
	fw := newFrameWriter(w, func(error) {})
	fw.limit = 64 << 10
	const senders, each = 32, 40
	var wg sync.WaitGroup
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			enc := protocol.NewEncoder()
			for i := 0; i < each; i++ {
				blob := strings.Repeat(string(rune('a'+(g+i)%26)), 1000+(g*7919+i*104729)%40000)
				frame, err := enc.Notification("n", []any{g, i, blob})
				require.NoError(t, err)
				require.NoError(t, fw.send(context.Background(), frame))
			}
		}(g)
	}
	fr := protocol.NewFrameReader(iotest.HalfReader(r))
	seen := map[[2]int]bool{}
	for n := 0; n < senders*each; n++ {
		body, err := fr.ReadFrame()
		require.NoError(t, err)
		m, err := protocol.DecodeMessage(body)
		require.NoError(t, err, "frame %d", n)
		var g, i int
		var blob string
		require.NoError(t, (Args{items: mustSplit(t, m.Params)}).Decode(&g, &i, &blob))
		want := strings.Repeat(string(rune('a'+(g+i)%26)), 1000+(g*7919+i*104729)%40000)
		require.Equal(t, want, blob, "frame %d of sender %d corrupted", i, g)
		require.False(t, seen[[2]int{g, i}], "frame %d of sender %d twice", i, g)
		seen[[2]int{g, i}] = true
	}
	wg.Wait()
}
