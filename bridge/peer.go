package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/polyfork/polyfork/protocol"
)

// Limits on what the other side can make this process hold. Past them the reader stops
// reading until handlers catch up, so the other side's writes block: backpressure, not
// unbounded memory.
const (
	// notifyQueue is how many notifications may wait for their handler.
	notifyQueue = 1024
	// notifyBytes is how many bytes of params those notifications may hold (one
	// notification of any size is always let through).
	notifyBytes = 64 << 20
	// maxServing is how many requests from the other side may run at once.
	maxServing = 1024
)

// peer speaks the protocol over a reader and a writer: it owns one reader goroutine and one
// goroutine that runs notification handlers; requests from the other side each run on a
// goroutine of their own. Every method is safe for concurrent use.
//
// Calls in flight are kept in a pending map keyed by id. When the connection ends, fail
// delivers one error to every pending call, so no call waits forever.
type peer struct {
	fr  *protocol.FrameReader
	out *frameWriter

	maxFrame int
	encoders sync.Pool

	// hooks set by the owner before start
	onReady    func(params []byte) error // if set, the first frame must be $ready
	onReadEnd  func(err error)           // the reader stopped: io.EOF or what went wrong
	onWriteErr func(err error)           // a write failed: the connection is unusable
	logf       func(format string, args ...any)

	mu        sync.Mutex
	nextID    uint32
	pending   map[uint32]*call
	abandoned map[uint32]struct{} // ids given up on, whose response is still due
	inflight  map[uint32]context.CancelFunc
	handlers  map[string]Handler
	notify    map[string]NotificationHandler
	err       error // terminal error, set once by fail
	done      chan struct{}

	base       context.Context // parent of handler contexts, cancelled by fail
	cancelBase context.CancelFunc
	queue      chan notification
	serving    chan struct{} // a slot per request being handled

	qmu    sync.Mutex
	qcond  *sync.Cond
	qbytes int // bytes of params waiting in queue
}

// call is one request in flight. Whoever removes it from the pending map (the reader with
// the response, fail, or the caller giving up) owns it; the first two signal done once.
// The caller recycles it when it is done with it.
type call struct {
	method string
	done   chan struct{} // buffered: one signal, the answer is in result or err
	result []byte
	err    error
}

var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

func newCall(method string) *call {
	c := callPool.Get().(*call)
	c.method = method
	return c
}

// recycle returns a call whose signal was consumed, or was never sent and never will be.
func (c *call) recycle() {
	c.method, c.result, c.err = "", nil, nil
	callPool.Put(c)
}

type notification struct {
	method string
	args   Args
}

func newPeer(r io.Reader, w io.Writer, cfg *config) *peer {
	p := &peer{
		fr:        protocol.NewFrameReader(r),
		maxFrame:  cfg.maxFrame,
		pending:   map[uint32]*call{},
		abandoned: map[uint32]struct{}{},
		inflight:  map[uint32]context.CancelFunc{},
		handlers:  map[string]Handler{},
		notify:    map[string]NotificationHandler{},
		done:      make(chan struct{}),
		queue:     make(chan notification, notifyQueue),
		serving:   make(chan struct{}, maxServing),
		logf:      func(string, ...any) {},
	}
	p.fr.SetMaxFrameSize(cfg.maxFrame)
	for k, v := range cfg.handlers {
		p.handlers[k] = v
	}
	for k, v := range cfg.notify {
		p.notify[k] = v
	}
	p.qcond = sync.NewCond(&p.qmu)
	p.base, p.cancelBase = context.WithCancel(context.Background())
	p.encoders.New = func() any {
		e := protocol.NewEncoder()
		e.SetMaxFrameSize(p.maxFrame)
		return e
	}
	p.onReadEnd = func(err error) { p.fail(err) }
	p.onWriteErr = func(err error) { p.fail(fmt.Errorf("bridge: write: %w", err)) }
	p.out = newFrameWriter(w, func(err error) { p.onWriteErr(err) })
	return p
}

// start launches the reader and the notification goroutine.
func (p *peer) start() {
	go p.readLoop()
	go p.notifyLoop()
}

// fail ends the connection with err: every pending call and every later call gets err,
// running handlers see their context cancelled. Only the first call has an effect.
func (p *peer) fail(err error) {
	p.mu.Lock()
	if p.err != nil {
		p.mu.Unlock()
		return
	}
	p.err = err
	pending := p.pending
	p.pending = map[uint32]*call{}
	p.mu.Unlock()
	for _, c := range pending {
		c.err = err
		c.done <- struct{}{}
	}
	p.cancelBase()
	close(p.done)
	p.qmu.Lock()
	p.qcond.Broadcast()
	p.qmu.Unlock()
}

// failed returns the terminal error, or nil while the connection is up.
func (p *peer) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *peer) readLoop() {
	awaitingReady := p.onReady != nil
	for {
		frame, err := p.fr.ReadFrame()
		if err != nil {
			p.onReadEnd(err)
			return
		}
		m, err := protocol.DecodeMessage(frame)
		if err != nil {
			p.onReadEnd(err)
			return
		}
		if awaitingReady {
			if m.Kind != protocol.KindNotification || m.Method != protocol.MethodReady {
				p.onReadEnd(fmt.Errorf("the first message must be the %s notification, got a %s%s",
					protocol.MethodReady, m.Kind, methodSuffix(m)))
				return
			}
			awaitingReady = false
			if err := p.onReady(m.Params); err != nil {
				p.onReadEnd(err)
				return
			}
			continue
		}
		switch m.Kind {
		case protocol.KindResponse:
			err = p.deliver(m)
		case protocol.KindRequest:
			err = p.serve(m)
		case protocol.KindNotification:
			err = p.notification(m)
		}
		if err != nil {
			p.onReadEnd(err)
			return
		}
	}
}

func methodSuffix(m protocol.Message) string {
	if m.Kind == protocol.KindResponse {
		return fmt.Sprintf(" (id %d)", m.ID)
	}
	return fmt.Sprintf(" %q", m.Method)
}

// deliver hands a response to its pending call.
func (p *peer) deliver(m protocol.Message) error {
	p.mu.Lock()
	c, ok := p.pending[m.ID]
	if ok {
		delete(p.pending, m.ID)
	} else if _, gaveUp := p.abandoned[m.ID]; gaveUp {
		delete(p.abandoned, m.ID)
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("a response for id %d, which is not a request in flight", m.ID)
	}
	if m.Error != nil {
		c.err = &RemoteError{
			Method:    c.method,
			Type:      m.Error.Type,
			Message:   m.Error.Message,
			Traceback: m.Error.Traceback,
			Data:      p.keep(m.Error.Data),
		}
	} else {
		c.result = p.keep(m.Result)
	}
	c.done <- struct{}{}
	return nil
}

// detachAt is the size from which keep takes over the frame's memory instead of copying.
const detachAt = 32 << 10

// keep returns b, a part of the frame the reader just read, in memory that stays valid:
// a copy when b is small (the reader reuses its buffer), the frame's own memory when it is
// large (the reader then reads the next frame into new memory, which saves a copy).
// It must be called on the reader goroutine.
func (p *peer) keep(b []byte) []byte {
	if len(b) >= detachAt {
		p.fr.Detach()
		return b
	}
	return clone(b)
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// serve runs the handler for a request from the other side on a goroutine of its own.
func (p *peer) serve(m protocol.Message) error {
	args, err := newArgs(p.keep(m.Params))
	if err != nil {
		return err
	}
	id, method := m.ID, m.Method
	p.mu.Lock()
	if _, dup := p.inflight[id]; dup {
		p.mu.Unlock()
		return fmt.Errorf("request id %d is already in flight; ids must be unique among the sender's requests in flight", id)
	}
	h := p.handlers[method]
	ctx, cancel := context.WithCancel(p.base)
	p.inflight[id] = cancel
	p.mu.Unlock()

	select {
	case p.serving <- struct{}{}:
	case <-p.done:
		p.mu.Lock()
		delete(p.inflight, id)
		p.mu.Unlock()
		cancel()
		return nil
	}
	go func() {
		defer func() { <-p.serving }()
		var result any
		var herr error
		if h == nil {
			herr = &RemoteError{Type: protocol.TypeMethodNotFound, Message: fmt.Sprintf("no handler for method %q", method)}
		} else {
			result, herr = runHandler(ctx, h, args)
		}
		if herr != nil && ctx.Err() != nil && p.failed() == nil && errors.Is(herr, context.Canceled) {
			herr = &RemoteError{Type: protocol.TypeCancelled, Message: fmt.Sprintf("%q was cancelled", method)}
		}
		p.mu.Lock()
		delete(p.inflight, id)
		p.mu.Unlock()
		cancel()
		p.respond(id, method, result, herr)
	}()
	return nil
}

// runHandler calls h, turning a panic into an error.
func runHandler(ctx context.Context, h Handler, args Args) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &RemoteError{Type: "panic", Message: fmt.Sprint(r), Traceback: string(debug.Stack())}
		}
	}()
	return h(ctx, args)
}

// respond writes the response for request id.
func (p *peer) respond(id uint32, method string, result any, herr error) {
	enc := p.encoders.Get().(*protocol.Encoder)
	defer p.encoders.Put(enc)
	var frame []byte
	var err error
	if herr != nil {
		frame, err = enc.Failure(id, errorValue(herr))
	} else {
		frame, err = enc.Result(id, result)
	}
	if err != nil {
		ev := &protocol.ErrorValue{Type: protocol.TypeProtocolError, Message: fmt.Sprintf("the host could not send the result of %q: %v", method, err)}
		if frame, err = enc.Failure(id, ev); err != nil {
			p.logf("cannot send the response to %q: %v", method, err)
			return
		}
	}
	_ = p.write(context.Background(), frame)
}

// errorValue turns a handler's error into an error map.
func errorValue(err error) *protocol.ErrorValue {
	var re *RemoteError
	if errors.As(err, &re) {
		return &protocol.ErrorValue{Type: re.Type, Message: re.Message, Traceback: re.Traceback, Data: re.Data}
	}
	typ := "Error"
	var typed interface{ ErrorType() string }
	if errors.As(err, &typed) {
		typ = typed.ErrorType()
	}
	return &protocol.ErrorValue{Type: typ, Message: err.Error()}
}

// notification handles $cancel at once and queues the rest for notifyLoop.
func (p *peer) notification(m protocol.Message) error {
	switch m.Method {
	case protocol.MethodCancel:
		args, err := newArgs(p.keep(m.Params))
		if err != nil {
			return err
		}
		var id uint32
		if args.Len() != 1 || args.Decode(&id) != nil {
			return fmt.Errorf("%s params must be [id] with a uint32 id, got %s", protocol.MethodCancel, quoteValue(m.Params))
		}
		p.mu.Lock()
		cancel := p.inflight[id]
		p.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		return nil
	case protocol.MethodReady:
		return fmt.Errorf("a second %s notification", protocol.MethodReady)
	}
	if strings.HasPrefix(m.Method, "$") {
		return nil // reserved names we do not know: ignored, as SPEC 4.3 says
	}
	args, err := newArgs(p.keep(m.Params))
	if err != nil {
		return err
	}
	if m.Method == protocol.MethodMessage && args.Len() != 1 {
		return fmt.Errorf("%q params must be [value], exactly one element, got %s", protocol.MethodMessage, quoteValue(m.Params))
	}
	size := len(args.raw)
	p.qmu.Lock()
	for p.qbytes > 0 && p.qbytes+size > notifyBytes && p.failed() == nil {
		p.qcond.Wait()
	}
	p.qbytes += size
	p.qmu.Unlock()
	select {
	case p.queue <- notification{m.Method, args}:
	case <-p.done:
	}
	return nil
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

// notifyLoop runs notification handlers one at a time, in order.
func (p *peer) notifyLoop() {
	for {
		select {
		case n := <-p.queue:
			p.mu.Lock()
			h := p.notify[n.method]
			p.mu.Unlock()
			if h != nil {
				p.runNotify(n.method, h, n.args)
			}
			p.qmu.Lock()
			p.qbytes -= len(n.args.raw)
			p.qcond.Broadcast()
			p.qmu.Unlock()
		case <-p.done:
			return
		}
	}
}

func (p *peer) runNotify(method string, h NotificationHandler, args Args) {
	defer func() {
		if r := recover(); r != nil {
			p.logf("the handler for notification %q panicked: %v\n%s", method, r, debug.Stack())
		}
	}()
	h(args)
}

// call sends a request and waits for its response, or for ctx to end, or for the
// connection to fail.
func (p *peer) call(ctx context.Context, method string, params, result any) error {
	c := newCall(method)
	p.mu.Lock()
	if p.err != nil {
		err := p.err
		p.mu.Unlock()
		c.recycle()
		return err
	}
	id := p.allocID()
	p.pending[id] = c
	p.mu.Unlock()

	enc := p.encoders.Get().(*protocol.Encoder)
	frame, err := enc.Request(id, method, params)
	if err != nil {
		p.encoders.Put(enc)
		if p.forget(id, c) {
			c.recycle()
		}
		return fmt.Errorf("bridge: call %q: %w", method, err)
	}
	err = p.write(ctx, frame)
	p.encoders.Put(enc)
	switch {
	case err == nil:
	case errors.Is(err, errNotSent):
		if p.forget(id, c) {
			c.recycle()
		}
		return fmt.Errorf("bridge: call %q: %w", method, ctx.Err())
	case errors.Is(err, errPartlySent):
		if p.giveUp(id, c) {
			c.recycle()
		}
		return fmt.Errorf("bridge: call %q: %w", method, ctx.Err())
	default:
		// The connection is broken; the owner fails every pending call with the reason
		// (the child's exit status, usually), which is more useful than EPIPE.
		<-c.done
		err := c.err
		c.recycle()
		return err
	}

	if done := ctx.Done(); done == nil {
		<-c.done
	} else {
		select {
		case <-c.done:
		case <-done:
			if p.giveUp(id, c) {
				c.recycle()
				return fmt.Errorf("bridge: call %q: %w", method, ctx.Err())
			}
			<-c.done // the response won the race
		}
	}
	res, err := c.result, c.err
	c.recycle()
	if err != nil {
		return err
	}
	if result != nil {
		if err := protocol.Unmarshal(res, result); err != nil {
			return fmt.Errorf("bridge: call %q: decoding the result: %w", method, err)
		}
	}
	return nil
}

// allocID returns an id not in use. p.mu must be held.
func (p *peer) allocID() uint32 {
	for {
		p.nextID++
		id := p.nextID
		if _, busy := p.pending[id]; busy {
			continue
		}
		if _, busy := p.abandoned[id]; busy {
			continue
		}
		return id
	}
}

// forget removes a call that never reached the other side. It reports false if the call
// was already taken out (then its done signal is on its way).
func (p *peer) forget(id uint32, c *call) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending[id] != c {
		return false
	}
	delete(p.pending, id)
	return true
}

// giveUp abandons a call that the other side has seen: its response will be dropped, and
// $cancel tells the other side. It reports false if the call was already answered.
func (p *peer) giveUp(id uint32, c *call) bool {
	p.mu.Lock()
	if p.pending[id] != c {
		p.mu.Unlock()
		return false
	}
	delete(p.pending, id)
	p.abandoned[id] = struct{}{}
	p.mu.Unlock()
	go p.sendNotification(context.Background(), protocol.MethodCancel, []any{id})
	return true
}

// sendNotification writes a notification; params as for protocol.Encoder.Notification.
func (p *peer) sendNotification(ctx context.Context, method string, params any) error {
	if err := p.failed(); err != nil {
		return err
	}
	enc := p.encoders.Get().(*protocol.Encoder)
	defer p.encoders.Put(enc)
	frame, err := enc.Notification(method, params)
	if err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	err = p.write(ctx, frame)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errNotSent), errors.Is(err, errPartlySent):
		return fmt.Errorf("bridge: notification %q: %w", method, ctx.Err())
	}
	<-p.done
	return p.err
}

// write writes one frame, or queues it behind the write in progress; see frameWriter.
func (p *peer) write(ctx context.Context, frame []byte) error {
	return p.out.send(ctx, frame)
}

// pendingCount returns the number of calls waiting for a response.
func (p *peer) pendingCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending)
}

// setHandler adds or replaces (or, with h nil, removes) a request handler.
func (p *peer) setHandler(method string, h Handler) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h == nil {
		delete(p.handlers, method)
	} else {
		p.handlers[method] = h
	}
}

// setNotify adds or replaces (or, with h nil, removes) a notification handler.
func (p *peer) setNotify(method string, h NotificationHandler) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h == nil {
		delete(p.notify, method)
	} else {
		p.notify[method] = h
	}
}
