package bridge

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"runtime"
	"sync"
	"time"
)

// maxQueued is how many bytes of frames may wait behind a write in progress before
// senders wait for it.
const maxQueued = 8 << 20

var (
	errNotSent    = errors.New("the context ended before the frame was written")
	errPartlySent = ErrPartlySent
)

// frameWriter writes whole frames to one stream, never interleaved, coalescing the frames
// of concurrent senders into one write.
//
// A sender that finds the stream idle writes its frame itself, at once (the lowest
// latency); senders that arrive while a write is in progress append their frame to a queue
// and return, and the queue is written in one go after the current write. When more than
// limit bytes are queued, senders wait for room, and a sender whose context ends while it
// waits, or while its own write is blocked (the other side is not reading), gets errNotSent
// or errPartlySent; the stream stays well-formed either way. Any other write error is
// sticky: every later send returns it, and onErr is called once. fail ends the writer and
// wakes every waiting sender.
//
// The writer starts goroutines of its own for queued frames; wg counts them, so the owner
// can wait for them after closing the stream.
type frameWriter struct {
	w     io.Writer
	dl    writeDeadliner // w's deadline control, or nil
	onErr func(error)
	limit int // maxQueued, or smaller in tests
	wg    sync.WaitGroup

	// onBlock is called when a write starts or a sender starts waiting for room: the
	// reader must then read on (see busy).
	onBlock func()

	// others reports whether other senders are likely to send any moment now (the Conn:
	// more than one call in flight). A sender that finds no write in progress then lets
	// them run first, so that their frames leave in its write (see coalesce). Nil: never.
	others func() bool

	mu       sync.Mutex
	room     chan struct{} // closed when queued bytes were written or the writer failed; nil if nobody waits
	queue    []byte        // frames waiting behind the write in progress
	spare    []byte
	flushing bool   // a write is in progress; its writer drains the queue after it
	err      error  // sticky write error
	order    uint64 // frames given a place in the stream so far (see sendTracked)
}

type writeDeadliner interface {
	SetWriteDeadline(t time.Time) error
}

func newFrameWriter(w io.Writer, onErr func(error)) *frameWriter {
	fw := &frameWriter{w: w, onErr: onErr, limit: maxQueued}
	fw.dl = safeWriteDeadline(w)
	return fw
}

// safeWriteDeadline returns w's write deadline control if a write that times out leaves
// the stream usable: pipes and files, TCP and Unix sockets, net.Pipe. (A timed-out write
// corrupts a tls.Conn, for one; streams not known to be safe get writeDetachable.)
func safeWriteDeadline(w io.Writer) writeDeadliner {
	switch v := w.(type) {
	case *os.File:
		return v
	case *net.TCPConn:
		return v
	case *net.UnixConn:
		return v
	}
	if d, ok := w.(writeDeadliner); ok && reflect.TypeOf(w).String() == "*net.pipe" {
		return d
	}
	return nil
}

// send writes frame, or queues it behind the write in progress. frame may be reused as
// soon as send returns. A nil error means the frame is written or queued to be written.
func (fw *frameWriter) send(ctx context.Context, frame []byte) error {
	return fw.sendTracked(ctx, frame, nil)
}

// sendTracked is send; s, if not nil, is told the frame's place in the stream (1 for the
// first frame sent, and so on) as soon as it has one, before the frame is written, so that
// callers who sent concurrently can tell whose frame the other side reads first. A frame
// that gets no place was not sent.
func (fw *frameWriter) sendTracked(ctx context.Context, frame []byte, s settler) error {
	fw.mu.Lock()
	for fw.err == nil && fw.flushing && len(fw.queue) > 0 && len(fw.queue)+len(frame) > fw.limit {
		if fw.room == nil {
			fw.room = make(chan struct{})
		}
		room := fw.room
		fw.mu.Unlock()
		if fw.onBlock != nil {
			fw.onBlock()
		}
		select {
		case <-room:
		case <-ctx.Done():
			return errNotSent
		}
		fw.mu.Lock()
	}
	if fw.err != nil {
		err := fw.err
		fw.mu.Unlock()
		return err
	}
	fw.order++
	if s != nil {
		s.written(fw.order)
	}
	if fw.flushing {
		fw.queue = append(fw.queue, frame...)
		fw.mu.Unlock()
		return nil
	}
	fw.flushing = true
	fw.mu.Unlock()
	if fw.onBlock != nil {
		fw.onBlock() // a write in progress: the reader must not stop reading now (see busy)
	}

	if ctx.Done() == nil && len(frame) <= coalesceMax && fw.others != nil && fw.others() {
		return fw.coalesce(frame)
	}
	if fw.dl == nil && ctx.Done() != nil {
		return fw.writeDetachable(ctx, frame)
	}
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
		rest := bytes.Clone(frame[n:])
		fw.wg.Add(1)
		go func() {
			defer fw.wg.Done()
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

// coalesceMax is the largest frame a sender holds back to gather others' (see coalesce):
// beyond it a write's cost is the bytes', not the system call's.
const coalesceMax = 4 << 10

// coalesce writes frame together with the frames other senders queue meanwhile, for a
// sender that owns the flush and cannot be cancelled (no ctx to give way to: its write
// would block the same). It yields once first: under load the callers woken by the last
// batch of responses are ready to run, and on one CPU each would otherwise make its own
// write system call, one after the other (measured: 64 callers, one CPU, a PHP child,
// about one write per call). Frames keep the order in which their senders queued them;
// this sender's comes first.
func (fw *frameWriter) coalesce(frame []byte) error {
	fw.mu.Lock()
	fw.queue = append(fw.queue, frame...) // empty before: nobody flushed
	fw.mu.Unlock()
	runtime.Gosched()
	if err := fw.writeQueue(); err != nil {
		return err
	}
	fw.finish() // frames queued during the write: written by a goroutine of their own
	return nil
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

// writeDetachable writes frame on a goroutine, for a stream with no write deadline, so
// that the sender can leave when ctx ends (errPartlySent: the frame is still written, whole,
// in the background) while the stream stays well-formed.
func (fw *frameWriter) writeDetachable(ctx context.Context, frame []byte) error {
	buf := bytes.Clone(frame)
	done := make(chan error, 1)
	fw.wg.Add(1)
	go func() {
		defer fw.wg.Done()
		if _, err := fw.w.Write(buf); err != nil {
			fw.fail(err)
			done <- err
			return
		}
		done <- nil
		fw.flushQueue()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return errPartlySent
	}
}

// finish ends a sender's own write. Frames queued meanwhile are written by a goroutine of
// their own, so that no sender waits for other senders' frames; sequential traffic, which
// finds the queue empty, starts no goroutine.
func (fw *frameWriter) finish() {
	fw.mu.Lock()
	if len(fw.queue) == 0 {
		fw.flushing = false
		fw.wakeLocked()
		fw.mu.Unlock()
		return
	}
	fw.mu.Unlock()
	fw.wg.Add(1)
	go func() {
		defer fw.wg.Done()
		fw.flushQueue()
	}()
}

// flushQueue writes the queue, batch after batch, until it is empty, and ends the flush.
func (fw *frameWriter) flushQueue() {
	for {
		fw.mu.Lock()
		if len(fw.queue) == 0 || fw.err != nil {
			fw.flushing = false
			fw.wakeLocked()
			fw.mu.Unlock()
			return
		}
		fw.mu.Unlock()
		if fw.writeQueue() != nil {
			return
		}
	}
}

// writeQueue writes the frames queued so far in one write (the flush's owner only), and
// keeps their buffer as the next queue's. A failed write fails the writer.
func (fw *frameWriter) writeQueue() error {
	fw.mu.Lock()
	batch := fw.queue
	fw.queue, fw.spare = fw.spare[:0], nil // the spare now belongs to the queue
	fw.mu.Unlock()
	_, err := fw.w.Write(batch)
	fw.mu.Lock()
	if cap(batch) <= fw.limit {
		fw.spare = batch[:0]
	}
	fw.wakeLocked()
	fw.mu.Unlock()
	if err != nil {
		fw.fail(err)
	}
	return err
}

// busy reports whether a write is in progress or frames wait for one: the other side may
// then be blocked writing to this side, so this side's reader must read on.
func (fw *frameWriter) busy() bool {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	return fw.flushing && fw.err == nil
}

// wakeLocked wakes the senders waiting for room. fw.mu must be held.
func (fw *frameWriter) wakeLocked() {
	if fw.room != nil {
		close(fw.room)
		fw.room = nil
	}
}

// fail records a write error: the stream is unusable from now on. onErr is called for the
// first error only, and not at all when err is errWriterClosed (the owner ended it).
func (fw *frameWriter) fail(err error) {
	fw.mu.Lock()
	first := fw.err == nil
	if first {
		fw.err = err
	}
	fw.flushing = false
	fw.queue = nil
	fw.wakeLocked()
	fw.mu.Unlock()
	if first && err != errWriterClosed && fw.onErr != nil {
		fw.onErr(err)
	}
}

// errWriterClosed is the sticky error of a writer its owner ended (the session ended, or
// this side closed its output on purpose).
var errWriterClosed = errors.New("bridge: the connection's output is closed")

// flush waits until every frame handed to send has been written (or the writer failed),
// or ctx ends.
func (fw *frameWriter) flush(ctx context.Context) error {
	fw.mu.Lock()
	for fw.err == nil && fw.flushing {
		if fw.room == nil {
			fw.room = make(chan struct{})
		}
		room := fw.room
		fw.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		}
		fw.mu.Lock()
	}
	err := fw.err
	fw.mu.Unlock()
	if err == errWriterClosed {
		return nil
	}
	return err
}
