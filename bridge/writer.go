package bridge

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"time"
)

// maxQueued is how many bytes of frames may wait behind a write in progress before
// senders wait for it.
const maxQueued = 8 << 20

var (
	errNotSent    = errors.New("the context ended before the frame was written")
	errPartlySent = errors.New("the context ended while the frame was being written; the rest is written in the background")
)

// frameWriter writes whole frames to one stream, never interleaved, coalescing the frames
// of concurrent senders into one write.
//
// A sender that finds the stream idle writes its frame itself, at once (the lowest
// latency); senders that arrive while a write is in progress append their frame to a queue
// and return, and the queue is written in one go after the current write. A sender whose
// context ends while its own write is blocked (the other side is not reading) gets
// errNotSent or errPartlySent; the stream stays well-formed either way. Any other write
// error is sticky: every later send returns it, and onErr is called once.
type frameWriter struct {
	w     io.Writer
	dl    writeDeadliner // w's deadline control, or nil
	onErr func(error)
	limit int // maxQueued, or smaller in tests

	mu       sync.Mutex
	room     *sync.Cond // signalled when the queue is written
	queue    []byte     // frames waiting behind the write in progress
	spare    []byte
	flushing bool  // a write is in progress; its writer drains the queue after it
	err      error // sticky write error
}

type writeDeadliner interface {
	SetWriteDeadline(t time.Time) error
}

func newFrameWriter(w io.Writer, onErr func(error)) *frameWriter {
	fw := &frameWriter{w: w, onErr: onErr, limit: maxQueued}
	fw.room = sync.NewCond(&fw.mu)
	if d, ok := w.(writeDeadliner); ok {
		fw.dl = d
	}
	return fw
}

// send writes frame, or queues it behind the write in progress. frame may be reused as
// soon as send returns. A nil error means the frame is written or queued to be written.
func (fw *frameWriter) send(ctx context.Context, frame []byte) error {
	fw.mu.Lock()
	for fw.err == nil && fw.flushing && len(fw.queue) > 0 && len(fw.queue)+len(frame) > fw.limit {
		fw.room.Wait()
	}
	if fw.err != nil {
		err := fw.err
		fw.mu.Unlock()
		return err
	}
	if fw.flushing {
		fw.queue = append(fw.queue, frame...)
		fw.mu.Unlock()
		return nil
	}
	fw.flushing = true
	fw.mu.Unlock()

	n, err := fw.write(ctx, frame)
	switch {
	case err == nil:
		fw.finish()
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil:
		if n == 0 {
			fw.finish()
			return errNotSent
		}
		rest := clone(frame[n:])
		go func() {
			if _, err := fw.w.Write(rest); err != nil {
				fw.fail(err)
				return
			}
			fw.flushQueue()
		}()
		return errPartlySent
	}
	fw.fail(err)
	return err
}

// write writes b, unblocking when ctx ends if the stream supports deadlines.
func (fw *frameWriter) write(ctx context.Context, b []byte) (int, error) {
	if ctx.Done() == nil || fw.dl == nil {
		return fw.w.Write(b)
	}
	if ctx.Err() != nil {
		return 0, os.ErrDeadlineExceeded
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = fw.dl.SetWriteDeadline(time.Unix(1, 0))
		close(fired)
	})
	n, err := fw.w.Write(b)
	if !stop() {
		<-fired
	}
	_ = fw.dl.SetWriteDeadline(time.Time{})
	return n, err
}

// finish ends a sender's own write. Frames queued meanwhile are written by a goroutine of
// their own, so that no sender waits for other senders' frames; sequential traffic, which
// finds the queue empty, starts no goroutine.
func (fw *frameWriter) finish() {
	fw.mu.Lock()
	if len(fw.queue) == 0 {
		fw.flushing = false
		fw.mu.Unlock()
		return
	}
	fw.mu.Unlock()
	go fw.flushQueue()
}

// flushQueue writes the queue, batch after batch, until it is empty, and ends the flush.
func (fw *frameWriter) flushQueue() {
	for {
		fw.mu.Lock()
		if len(fw.queue) == 0 || fw.err != nil {
			fw.flushing = false
			fw.room.Broadcast()
			fw.mu.Unlock()
			return
		}
		batch := fw.queue
		fw.queue, fw.spare = fw.spare[:0], nil // the spare now belongs to the queue
		fw.mu.Unlock()
		_, err := fw.w.Write(batch)
		fw.mu.Lock()
		if cap(batch) <= fw.limit {
			fw.spare = batch[:0]
		}
		fw.room.Broadcast()
		fw.mu.Unlock()
		if err != nil {
			fw.fail(err)
			return
		}
	}
}

// fail records a write error: the stream is unusable from now on.
func (fw *frameWriter) fail(err error) {
	fw.mu.Lock()
	first := fw.err == nil
	if first {
		fw.err = err
	}
	fw.flushing = false
	fw.queue = nil
	fw.room.Broadcast()
	fw.mu.Unlock()
	if first {
		fw.onErr(err)
	}
}
