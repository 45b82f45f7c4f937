package bridge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"

	"github.com/polyfork/polyfork/protocol"
)

// readLoop reads frames until the stream ends, delivering responses itself and handing
// requests and notifications on.
func (c *Conn) readLoop() {
	defer c.wg.Done()
	defer close(c.readEnd)
	for {
		err := c.takeReadErr() // what a leader's read hit, if it did
		answered := false
		if err == nil {
			var frame []byte
			frame, err = c.fr.ReadFrame()
			if err == nil {
				answered, err = c.dispatch(frame)
				if err != nil {
					err = asProtocolError(err, frame)
				}
			}
		}
		if err == nil {
			// Park only when the answer just delivered was the last one awaited: then the
			// next call may read its own answer. After a request or a notification the
			// other side is talking: read on.
			if answered && !c.maybePark() {
				return
			}
			continue
		}
		if c.cfg.child != nil && errors.Is(err, io.EOF) && !c.closing.Load() {
			// End of input means $stop to a child (SPEC 6): running handlers finish and
			// what they answer or send goes out before the session ends, the message
			// handlers' too, as Drain waits for them after $stop (an OnMessage that
			// replies would otherwise lose the reply to the host's last message).
			c.stopped()
			// No answer can come any more: a handler that calls the other side now, or
			// waits for an answer, gets io.EOF at once instead of waiting for ever.
			c.calls.failAll(io.EOF)
			if c.waitIdle(c.ended) {
				_ = c.Flush(c.base)
			}
		}
		c.streamEnded(err)
		return
	}
}

// asProtocolError turns what dispatch refused into a *protocol.Error quoting the frame, so
// that it reads, and is handled, as the protocol violation it is.
func asProtocolError(err error, frame []byte) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return err
	}
	q := frame[:min(len(frame), 64)]
	return &protocol.Error{Reason: err.Error(), Offset: -1, Size: len(frame), Quote: bytes.Clone(q)}
}

// dispatch handles one frame and reports whether it was a response; an error ends the
// session.
func (c *Conn) dispatch(frame []byte) (response bool, err error) {
	m, err := protocol.DecodeMessage(frame, c.cfg.maxValues)
	if err != nil {
		return false, err
	}
	switch m.Kind {
	case protocol.KindResponse:
		return true, c.deliver(m)
	case protocol.KindRequest:
		if err := c.waitRoom(); err != nil {
			return false, err
		}
		return false, c.admitRequest(m)
	}
	return false, c.notification(m)
}

// waitRoom applies the backpressure described on Conn.
func (c *Conn) waitRoom() error {
	return c.in.waitRoom(func() bool { return c.calls.len() > 0 || c.out.busy() }, c.wakeChan, c.ended)
}

// deliver hands a response to its pending call.
func (c *Conn) deliver(m protocol.Message) error {
	cl, err := c.calls.take(m.ID)
	if cl == nil {
		return err // nil for a late answer to a call given up on: dropped
	}
	if m.Error != nil {
		cl.err = &RemoteError{
			Method:    cl.method,
			Type:      m.Error.Type,
			Message:   m.Error.Message,
			Traceback: m.Error.Traceback,
			Data:      c.keep(m.Error.Data),
		}
	} else if cl.leads && len(m.Result) < detachAt {
		// The caller reads the stream itself, and this is its goroutine: it decodes the
		// result before the next frame is read, and needs no signal (lead).
		cl.result, cl.aliased = m.Result, true
	} else {
		cl.result = c.keep(m.Result)
	}
	if !cl.aliased {
		cl.done <- struct{}{}
	}
	c.checkQuiet()
	return nil
}

// detachAt is the size from which keep takes over the frame's memory instead of copying.
const detachAt = 32 << 10

// keep returns b, a part of the frame the reader just read, in memory that stays valid:
// a copy when b is small (the reader reuses its buffer), the frame's own memory when it is
// large (the reader then reads the next frame into new memory, which saves a copy). It
// must be called on the reader goroutine.
func (c *Conn) keep(b []byte) []byte {
	if len(b) >= detachAt {
		c.fr.Detach()
		return b
	}
	return bytes.Clone(b)
}

// notification handles the protocol's notifications at once and queues the rest for
// notifyLoop.
func (c *Conn) notification(m protocol.Message) error {
	switch m.Method {
	case protocol.MethodCancel:
		args, err := newArgs(c.keep(m.Params))
		if err != nil {
			return err
		}
		var id uint32
		if args.Len() != 1 || args.Decode(&id) != nil {
			return fmt.Errorf("%s params must be [id] with a uint32 id, got %s", protocol.MethodCancel, quoteValue(m.Params))
		}
		c.cancelServing(id)
		return nil
	case protocol.MethodReady:
		return fmt.Errorf("an unexpected %s notification (the handshake is the first frame only)", protocol.MethodReady)
	case protocol.MethodStop:
		if c.cfg.child != nil {
			c.stopped()
		}
		return nil
	}
	if reserved(m.Method) {
		return nil // reserved names we do not know: ignored, as SPEC 4.3 says
	}
	args, err := newArgs(c.keep(m.Params))
	if err != nil {
		return err
	}
	if m.Method == protocol.MethodMessage && args.Len() != 1 {
		return fmt.Errorf("%q params must be [value], exactly one element, got %s", protocol.MethodMessage, quoteValue(m.Params))
	}
	if err := c.waitRoom(); err != nil {
		return err
	}
	c.in.pushNote(notification{m.Method, args})
	return nil
}

// stopped handles $stop (or end of input) in the child role: later requests get the
// Stopping error, and the callback of WithChildRole runs once.
func (c *Conn) stopped() {
	c.smu.Lock()
	first := !c.stopping
	c.smu.Unlock()
	c.beginStop()
	if first && c.cfg.child.onStop != nil {
		c.cfg.child.onStop()
	}
}

// quoteValue renders raw msgpack for an error message.
func quoteValue(b []byte) string {
	if v, err := protocol.DecodeValue(b); err == nil {
		s := fmt.Sprintf("%v", v)
		if len(s) > 100 {
			s = s[:100] + "..."
		}
		return s
	}
	return protocol.QuoteBytes(b[:min(len(b), 32)], len(b))
}

// notifyLoop runs notification handlers one at a time, in order, until the session has
// ended and nothing is left to run.
func (c *Conn) notifyLoop() {
	inHandler, method := false, "" // a handler runs, for the notification method
	defer func() {
		if inHandler {
			// The handler called runtime.Goexit (t.FailNow in a test's listener): this
			// goroutine ends whatever we do. Another carries on in its place (in c.wg), or
			// no later notification would ever be handled.
			c.logf(slog.LevelError, "a notification handler called runtime.Goexit; handling goes on", "notification", method)
			c.in.handled()
			go c.notifyLoop()
			return
		}
		c.leaveNotify()
	}()
	for {
		for {
			n, ok := c.in.popNote()
			if !ok {
				break
			}
			c.hmu.RLock()
			h := c.notify[n.method]
			c.hmu.RUnlock()
			if h != nil {
				inHandler, method = true, n.method
				c.runNotify(n.method, h, n.args)
				inHandler = false
			}
			c.in.handled()
		}
		select {
		case <-c.in.kick:
		case <-c.ended:
			if c.in.empty() {
				return
			}
		}
	}
}

func (c *Conn) runNotify(method string, h NotificationHandler, args Args) {
	defer func() {
		if r := recover(); r != nil {
			c.logf(slog.LevelError, "a notification handler panicked", "notification", method,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	h(args)
}
