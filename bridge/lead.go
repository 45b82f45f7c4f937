package bridge

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Who reads the stream. A background goroutine (readLoop) reads while the session is idle
// or busy with many calls. But a caller whose call is the only one in flight reads its own
// answer (leader/follower): it then wakes once per call, from the poller, instead of the
// reader waking and then waking it. To leave the stream to such callers, the background
// reader parks when the answer it just delivered was the last one awaited and nothing more
// is buffered (never after a request or a notification: then the other side is talking);
// parkFor after that, if no call has come to lead, it reads again. So the other side's
// first message or request after a call may wait that long (a timer's real resolution: on
// a busy machine a millisecond or more), and none after it. A leader whose context ends
// stops its read with a read deadline, so only streams with working read deadlines (pipes,
// sockets) have leaders.
const parkFor = 100 * time.Microsecond

type readerState int

const (
	readerBackground readerState = iota // readLoop reads
	readerParked                        // nobody reads; a caller may lead
	readerLeader                        // a caller reads
)

type readDeadliner interface {
	SetReadDeadline(t time.Time) error
}

// maybePark parks the background reader if no call is in flight and no frame is buffered,
// until a leader hands the stream back or parkFor passes. It returns false when the session
// ended meanwhile.
func (c *Conn) maybePark() bool {
	if c.rdl == nil {
		return true
	}
	c.rmu.Lock()
	if c.calls.len() != 0 || c.fr.Buffered() != 0 || c.readErr != nil {
		c.rmu.Unlock()
		return true
	}
	c.rstate = readerParked
	c.parkTimer.Reset(parkFor)
	c.rmu.Unlock()
	select {
	case <-c.resume:
		return true
	case <-c.ended:
		return false
	}
}

// unpark ends a park that lasted parkFor: the background reader reads again.
func (c *Conn) unpark() {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.rstate == readerParked {
		c.rstate = readerBackground
		c.signalResume()
	}
}

func (c *Conn) signalResume() {
	select {
	case c.resume <- struct{}{}:
	default:
	}
}

// tryLead makes the caller the reader if nobody reads now.
func (c *Conn) tryLead() bool {
	if c.rdl == nil {
		return false
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.rstate != readerParked || c.readErr != nil {
		return false
	}
	c.rstate = readerLeader
	c.parkTimer.Stop()
	return true
}

// lead reads frames, dispatching them as the background reader would, until cl is
// answered, ctx ends or the stream fails (the failure is left to the background reader,
// which ends the session as it always does). An answer is decoded into result here, from
// the frame itself, before anyone reads on (cl.aliased), when decoding it runs none of the
// caller's code (inertResult): that saves copying it out of the frame. Then it gives the
// stream back.
func (c *Conn) lead(ctx context.Context, cl *call, result any) {
	var stop func() bool
	var fired chan struct{}
	if ctx.Done() != nil {
		fired = make(chan struct{})
		stop = context.AfterFunc(ctx, func() {
			_ = c.rdl.SetReadDeadline(time.Unix(1, 0))
			close(fired)
		})
	}
	// The stream goes back however this ends: the result is decoded below, before then,
	// and a caller's decoder may panic or end the goroutine (runtime.Goexit); a stream kept
	// by a leader that is gone would never be read again.
	defer func() {
		if stop != nil && !stop() {
			<-fired
			_ = c.rdl.SetReadDeadline(time.Time{})
		}
		c.handBack()
	}()
	cl.leads = inertResult(result)
	for len(cl.done) == 0 && !cl.aliased {
		frame, err := c.fr.ReadFrame()
		if err == nil {
			if _, err = c.dispatch(frame); err != nil {
				err = asProtocolError(err, frame)
			}
		}
		if err != nil {
			if !(errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil) {
				c.rmu.Lock()
				c.readErr = err
				c.rmu.Unlock()
			}
			break
		}
	}
	cl.leads = false
	if cl.aliased { // answered, by this goroutine's own dispatch
		cl.err = decodeResult(cl.method, cl.result, result)
		cl.result = nil
	}
}

// inertResult reports whether decoding into result runs none of the caller's code, so that
// a leader may decode it from the frame while it holds the stream: the targets most calls
// use. A type with a decoder of its own (msgpack.CustomDecoder, Unmarshaler) may do
// anything, call this session back included, which needs the stream read meanwhile: its
// result is copied out of the frame and decoded once the stream is given back.
func inertResult(result any) bool {
	switch result.(type) {
	case nil, *string, *[]byte, *any, *bool, *int, *int64, *int32, *uint, *uint64, *uint32,
		*float64, *float32, *[]any, *map[string]any, *[]string, *map[string]string,
		*[]int, *[]float64, *msgpack.RawMessage:
		return true
	}
	return false
}

// handBack ends a leader's turn: the background reader reads again if calls are still in
// flight, a frame is buffered or the leader hit an error; otherwise the stream stays free
// for the next leader, for parkFor.
func (c *Conn) handBack() {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.calls.len() > 0 || c.fr.Buffered() > 0 || c.readErr != nil {
		c.rstate = readerBackground
		c.signalResume()
		return
	}
	c.rstate = readerParked
	c.parkTimer.Reset(parkFor)
}

// takeReadErr returns (and clears) the error a leader hit, for the background reader.
func (c *Conn) takeReadErr() error {
	if c.rdl == nil {
		return nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	err := c.readErr
	c.readErr = nil
	return err
}
