package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/polyfork/polyfork/protocol"
)

// admitRequest registers a request from the other side and runs it on a goroutine of its
// own, or queues it when maxServing requests already run.
func (c *Conn) admitRequest(m protocol.Message) error {
	args, err := newArgs(c.keep(m.Params))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(c.base)
	c.smu.Lock()
	if _, dup := c.serving[m.ID]; dup {
		c.smu.Unlock()
		cancel()
		return fmt.Errorf("request id %d is already in flight; ids must be unique among the sender's requests in flight", m.ID)
	}
	c.serving[m.ID] = cancel
	stopping := c.stopping
	c.smu.Unlock()
	r := request{id: m.ID, method: m.Method, args: args, ctx: ctx, stopping: stopping}
	if c.in.startRequest(r) {
		go c.runRequests(r)
	}
	return nil
}

// runRequests runs r, then requests that queued meanwhile, until none is left (or a
// handler ends the goroutine with runtime.Goexit: runRequest hands the queue on then).
func (c *Conn) runRequests(r request) {
	for ok := true; ok; r, ok = c.in.nextRequest() {
		c.runRequest(r)
	}
}

// runRequest runs one request's handler and writes its answer.
func (c *Conn) runRequest(r request) {
	var result any
	var herr error
	c.hmu.RLock()
	h := c.handlers[r.method]
	c.hmu.RUnlock()
	switch {
	case r.stopping:
		herr = &RemoteError{Type: protocol.TypeStopping,
			Message: fmt.Sprintf("request %s arrived after $stop: this side starts no new handlers", protocol.QuoteName(r.method))}
	case r.ctx.Err() != nil:
		herr = &RemoteError{Type: protocol.TypeCancelled, Message: fmt.Sprintf("%s was cancelled before it started", protocol.QuoteName(r.method))}
	case h == nil:
		herr = &RemoteError{Type: protocol.TypeMethodNotFound, Message: fmt.Sprintf("no handler for method %s", protocol.QuoteName(r.method))}
	default:
		returned := false
		defer func() {
			if !returned { // runtime.Goexit (t.FailNow in a test's handler): answer for it
				c.logf(slog.LevelError, "a handler called runtime.Goexit", "method", r.method)
				c.respond(r.id, r.method, nil, &RemoteError{Type: "panic",
					Message: fmt.Sprintf("the handler of %s called runtime.Goexit", protocol.QuoteName(r.method))})
				c.forgetServing(r.id)
				// This goroutine ends whatever we do; another takes on what queued.
				if next, ok := c.in.nextRequest(); ok {
					go c.runRequests(next)
				}
			}
		}()
		result, herr = runHandler(r.ctx, h, r.args)
		returned = true
		if herr != nil && r.ctx.Err() != nil && c.Err() == nil && errors.Is(herr, context.Canceled) {
			herr = &RemoteError{Type: protocol.TypeCancelled, Message: fmt.Sprintf("%s was cancelled", protocol.QuoteName(r.method))}
		}
	}
	c.respond(r.id, r.method, result, herr)
	c.forgetServing(r.id)
}

// respond writes the response for request id.
func (c *Conn) respond(id uint32, method string, result any, herr error) {
	if c.Err() != nil {
		return // nobody to answer
	}
	enc := c.encoders.Get().(*protocol.Encoder)
	defer c.encoders.Put(enc)
	var frame []byte
	var err error
	if herr != nil {
		frame, err = enc.Failure(id, errorValue(herr))
	} else {
		frame, err = enc.Result(id, result)
	}
	if err != nil {
		ev := &protocol.ErrorValue{Type: protocol.TypeProtocolError,
			Message: fmt.Sprintf("the answer to %s could not be sent: %v", protocol.QuoteName(method), err)}
		if frame, err = enc.Failure(id, ev); err != nil {
			c.logf(slog.LevelError, "cannot send a response", "method", method, "err", err)
			return
		}
	}
	_ = c.out.send(context.Background(), frame)
}

// cancelServing cancels the handler of request id ($cancel), if it has not answered yet.
func (c *Conn) cancelServing(id uint32) {
	c.smu.Lock()
	cancel := c.serving[id]
	c.smu.Unlock()
	if cancel != nil {
		cancel()
	}
	c.checkQuiet()
}

// forgetServing releases request id once it is answered (or will never be).
func (c *Conn) forgetServing(id uint32) {
	c.smu.Lock()
	cancel := c.serving[id]
	delete(c.serving, id)
	if c.idle != nil && len(c.serving) == 0 {
		select {
		case <-c.idle:
		default:
			close(c.idle)
		}
	}
	c.smu.Unlock()
	if cancel != nil {
		cancel()
	}
	c.checkQuiet()
}
