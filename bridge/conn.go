package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/polyfork/polyfork/protocol"
)

// Conn is one polyfork session over a byte stream: calls both ways, messages, notifications
// and cancellation (protocol/SPEC.md sections 2 to 6), knowing nothing about processes. A
// Process is a Conn over a child's pipes; a Conn can as well run over a socket or a
// net.Pipe, with a Go program on either side (package bridge/child is the child's side).
//
// NewConn is given everything the session needs once, as options (handlers, callbacks,
// limits, what to do when the stream ends), and starts at once. Handle and OnMessage can
// add handlers later.
//
// A Conn owns three goroutines (one reads frames and delivers responses; one runs
// notification handlers, in order; one closes Done when the others have returned) plus,
// briefly, goroutines that write frames queued behind a write in progress. On a stream with read deadlines, a caller whose call is the
// only one in flight reads its own answer instead of waiting for the reader (see lead.go). Each request from the other side runs on a goroutine of its
// own, at most 1024 at once. Done is closed when the session has ended and the Conn's own
// goroutines have returned; a request handler still running then has its context
// cancelled, and its answer goes nowhere. After Close, the notification goroutine is not
// waited for either while it runs a handler: it returns when the handler does. Every
// method is safe for concurrent use. A Conn is made by NewConn: the methods of a zero Conn
// do nothing (Done is closed), and those that return an error say so.
//
// The reader never stops delivering responses: when notification handlers fall behind by
// more than 1024 notifications or 64 MiB of params, the reader stops reading (the other
// side's writes block) only while no call of this side waits for a response and no sender
// of this side waits for room to write (the other side may be blocked writing to us); else
// it reads on, and the session ends with an error naming the backlog if handlers fall behind
// by 64 times as much. A handler that sends should still give Send a context with a
// deadline.
type Conn struct {
	cfg      connConfig
	r        io.Reader
	w        io.Writer
	fr       *protocol.FrameReader
	out      *frameWriter
	calls    *callTable
	in       *inbox
	encoders sync.Pool
	wake     atomic.Pointer[chan struct{}] // the reader's wake-up when a call is added
	quietCh  atomic.Pointer[chan struct{}] // closed when no call is in flight either way

	hmu      sync.RWMutex
	handlers map[string]Handler
	notify   map[string]NotificationHandler

	smu      sync.Mutex
	serving  map[uint32]context.CancelFunc // requests from the other side not yet answered
	stopping bool                          // later requests get the Stopping error
	idle     chan struct{}                 // closed when serving empties while stopping

	base       context.Context // parent of handler contexts, cancelled when the session ends
	cancelBase context.CancelFunc

	// the reader role (lead.go)
	rdl       readDeadliner // r's read deadline, or nil: then only readLoop reads
	rmu       sync.Mutex
	rstate    readerState
	resume    chan struct{} // capacity 1: the background reader may read again
	parkTimer *time.Timer
	readErr   error // what a leader's read hit, for readLoop to act on

	endOnce   sync.Once
	ended     chan struct{} // closed when the session has ended; err is set
	err       error
	closing   atomic.Bool // Close began the end
	wg        sync.WaitGroup
	tmu       sync.Mutex    // guards untracked against goTracked
	untracked bool          // Done's wait for wg began
	done      chan struct{} // closed when the Conn's goroutines have returned
	readEnd   chan struct{} // closed when readLoop has returned
	// leaveNotify is notifyLoop's wg.Done, once: discard calls it for a notifyLoop that
	// runs a handler, so that Done does not wait for that handler.
	leaveNotify func()
}

// NewConn starts a session that reads frames from r and writes frames to w. Close closes r
// and w if they implement io.Closer (r should: a read blocked on a stream that cannot be
// closed keeps Close waiting until the read returns). It returns an error only for invalid
// options or a nil r or w (matching ErrInvalidOption); options that concern only a Process
// or a Pool are invalid here.
func NewConn(r io.Reader, w io.Writer, opts ...Option) (*Conn, error) {
	cfg, err := newConfig(scopeConn, opts)
	// A nil stream made the Conn's own goroutines panic, beyond any recover.
	if r == nil {
		err = errors.Join(err, &OptionError{Option: "r", Reason: "the stream to read frames from is nil"})
	}
	if w == nil {
		err = errors.Join(err, &OptionError{Option: "w", Reason: "the stream to write frames to is nil"})
	}
	if err != nil {
		return nil, err
	}
	return newConn(r, w, cfg.conn), nil
}

func newConn(r io.Reader, w io.Writer, cfg connConfig) *Conn {
	c := &Conn{
		cfg:      cfg,
		r:        r,
		w:        w,
		fr:       protocol.NewFrameReader(r),
		calls:    newCallTable(),
		in:       newInbox(),
		handlers: make(map[string]Handler, len(cfg.handlers)),
		notify:   make(map[string]NotificationHandler, len(cfg.notify)),
		serving:  map[uint32]context.CancelFunc{},
		ended:    make(chan struct{}),
		done:     make(chan struct{}),
		readEnd:  make(chan struct{}),
	}
	for k, v := range cfg.handlers {
		c.handlers[k] = v
	}
	for k, v := range cfg.notify {
		c.notify[k] = v
	}
	c.fr.SetMaxFrameSize(cfg.maxFrame)
	c.encoders.New = func() any {
		e := protocol.NewEncoder()
		e.SetMaxFrameSize(cfg.maxFrame)
		e.SetMaxValues(cfg.maxValues)
		return e
	}
	c.calls.onAdd = c.wakeReader
	c.resume = make(chan struct{}, 1)
	if d, ok := r.(readDeadliner); ok && cfg.child == nil && d.SetReadDeadline(time.Time{}) == nil {
		c.rdl = d // (a blocking *os.File has the method but no deadlines)
		c.parkTimer = time.AfterFunc(time.Hour, c.unpark)
		c.parkTimer.Stop()
	}
	// Handlers' contexts say which Conn they serve (see servedBy).
	c.base, c.cancelBase = context.WithCancel(context.WithValue(context.Background(), servingKey{}, c))
	c.out = newFrameWriter(w, func(err error) {
		c.goTracked(func() { c.streamEnded(&writeError{err}) })
	})
	c.out.onBlock = c.wakeReader
	c.out.others = func() bool { return c.calls.len() > 1 }
	if cfg.child != nil {
		c.sendReady(cfg.child.ready)
	}
	c.leaveNotify = sync.OnceFunc(c.wg.Done)
	c.wg.Add(2)
	go c.readLoop()
	go c.notifyLoop()
	go func() {
		<-c.ended
		c.tmu.Lock()
		c.untracked = true // no goTracked from now on: Add must not race this Wait
		c.tmu.Unlock()
		c.wg.Wait()
		c.out.wg.Wait()
		close(c.done)
	}()
	return c
}

// servingKey is the key of the Conn whose request a handler's context serves.
type servingKey struct{}

// servedBy returns the Conn whose request the handler that was given ctx (or a context
// derived from it) is serving, or nil.
func servedBy(ctx context.Context) *Conn {
	c, _ := ctx.Value(servingKey{}).(*Conn)
	return c
}

// writeError marks a cause that came from writing, for OnEnd callbacks and messages.
type writeError struct{ err error }

func (e *writeError) Error() string { return "writing: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// goTracked runs fn on a goroutine that Done waits for, unless the session has ended and
// that wait began: then fn (an end by a write error, a $cancel) has nothing left to do, and
// a goroutine started then would outlive Done.
func (c *Conn) goTracked(fn func()) {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	if c.untracked {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
}

// sendReady writes the $ready handshake before anything else (child role).
func (c *Conn) sendReady(info ReadyInfo) {
	if info.Pid == 0 {
		info.Pid = currentPid()
	}
	enc := c.encoders.Get().(*protocol.Encoder)
	defer c.encoders.Put(enc)
	frame, err := enc.Notification(protocol.MethodReady, []any{info})
	if err == nil {
		err = c.out.send(context.Background(), frame)
	}
	if err != nil {
		c.logf(slog.LevelError, "sending $ready failed", "err", err)
	}
}

// Call calls method on the other side; see Caller. Calls are safe from many goroutines and
// answered in any order. If ctx ends first, Call sends $cancel and returns an error matching
// ctx.Err(). If the other side's handler raised, the error is a *RemoteError. If the
// session ends while the call is in flight, the call fails at once with the session's
// error (for a Process: the child's *ExitError or *ProtocolError). A call whose params
// cannot be sent, or whose method name is empty or starts with '$' (the protocol's names),
// fails with an error matching ErrUnsendable, and the session is unharmed.
//
// The result is decoded as protocol.Unmarshal does.
func (c *Conn) Call(ctx context.Context, method string, params, result any, opts ...CallOption) error {
	_, err := c.call(ctx, method, params, result, nil)
	return err
}

// settler follows one call for a Pool: written tells the call's place in the stream (see
// frameWriter.sendTracked) once its request has one, so the pool knows which of
// the calls it gave one worker that worker reads first; settled is told when a call given up
// on is settled: the other side answered it, or the session ended, so the other side no
// longer runs it (the pool keeps the call's place on its worker until then).
type settler interface {
	written(order uint64)
	settled()
}

// call is Call. It reports abandoned when ctx ended after the request was sent (the
// other side may still be running it): then s, if not nil, is told once the call is
// settled, possibly before call returns.
func (c *Conn) call(ctx context.Context, method string, params, result any, s settler) (abandoned bool, _ error) {
	if ctx == nil {
		return false, errNilContext
	}
	if c.zero() {
		return false, errZeroConn
	}
	if err := checkMethod(method); err != nil {
		return false, err
	}
	cl := newCall(method)
	id, err := c.calls.add(cl)
	if err != nil {
		cl.recycle()
		return false, err
	}
	enc := c.encoders.Get().(*protocol.Encoder)
	frame, err := enc.Request(id, method, params)
	if err != nil {
		c.encoders.Put(enc)
		if c.calls.forget(id, cl) {
			cl.recycle()
		}
		return false, fmt.Errorf("bridge: call %s: %w", protocol.QuoteName(method), err)
	}
	err = c.out.sendTracked(ctx, frame, s)
	c.encoders.Put(enc)
	switch {
	case err == nil:
		if c.tryLead() {
			c.lead(ctx, cl, result)
		}
	case errors.Is(err, errNotSent):
		if c.calls.forget(id, cl) {
			cl.recycle()
		}
		c.checkQuiet()
		return false, fmt.Errorf("bridge: call %s: %w", protocol.QuoteName(method), ctx.Err())
	case errors.Is(err, errPartlySent):
		abandoned = c.giveUp(id, cl, s)
		return abandoned, fmt.Errorf("bridge: call %s: %w: %w", protocol.QuoteName(method), ctx.Err(), ErrPartlySent)
	default:
		// The stream is broken: the session ends with the reason (a child's exit status,
		// usually), which is more useful than EPIPE, and fails this call with it; unless
		// ctx ends first.
		select {
		case <-cl.done:
		case <-ctx.Done():
			if c.calls.forget(id, cl) {
				cl.recycle()
				return false, fmt.Errorf("bridge: call %s: %w (writing it had failed: %v)", protocol.QuoteName(method), ctx.Err(), err)
			}
			<-cl.done
		}
		err := cl.err
		cl.recycle()
		return false, err
	}

	if cl.aliased {
		// lead took the answer itself, without a signal, and decoded it
	} else if done := ctx.Done(); done == nil {
		<-cl.done
	} else {
		select {
		case <-cl.done:
		case <-done:
			if c.giveUp(id, cl, s) {
				return true, fmt.Errorf("bridge: call %s: %w", protocol.QuoteName(method), ctx.Err())
			}
			<-cl.done // the response won the race
		}
	}
	res, err, decoded := cl.result, cl.err, cl.aliased
	cl.recycle()
	if err != nil || decoded {
		return false, err
	}
	return false, decodeResult(method, res, result)
}

// decodeResult decodes a call's result b into result (nil: the result is not wanted).
func decodeResult(method string, b []byte, result any) error {
	if result == nil {
		return nil
	}
	if err := protocol.UnmarshalChecked(b, result); err != nil {
		return fmt.Errorf("bridge: call %s: decoding the result: %w", protocol.QuoteName(method), err)
	}
	return nil
}

// giveUp abandons a call the other side has seen and tells it with $cancel; it recycles
// the call and reports true (s, if not nil, is told when the call is settled), or reports
// false if the response won the race.
func (c *Conn) giveUp(id uint32, cl *call, s settler) bool {
	if !c.calls.abandon(id, cl, s) {
		return false
	}
	cl.recycle()
	c.checkQuiet()
	c.goTracked(func() {
		_ = c.sendNotification(c.base, protocol.MethodCancel, []any{id})
	})
	return true
}

// Send sends v to the other side's on('message') listeners, like process.send in Node. It
// returns once the message is written, or queued behind a write in progress (messages from
// one goroutine arrive in order). An error means it will not arrive, except one matching
// ErrPartlySent: ctx ended while the message was being written, and the rest of it is
// written anyway.
func (c *Conn) Send(ctx context.Context, v any) error {
	if ctx == nil {
		return errNilContext
	}
	return c.sendNotification(ctx, protocol.MethodMessage, []any{v})
}

// Notify sends the notification method with params. Names starting with '$' are reserved
// for the protocol.
func (c *Conn) Notify(ctx context.Context, method string, params ...any) error {
	if ctx == nil {
		return errNilContext
	}
	if method == "" || reserved(method) {
		return fmt.Errorf("bridge: notification name %s is empty or reserved (names starting with '$' are the protocol's)", protocol.QuoteName(method))
	}
	return c.sendNotification(ctx, method, params)
}

// sendNotification writes a notification; params as for protocol.Encoder.Notification.
func (c *Conn) sendNotification(ctx context.Context, method string, params any) error {
	if c.zero() {
		return errZeroConn
	}
	if err := c.Err(); err != nil {
		return err
	}
	enc := c.encoders.Get().(*protocol.Encoder)
	defer c.encoders.Put(enc)
	frame, err := enc.Notification(method, params)
	if err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	err = c.out.send(ctx, frame)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errNotSent):
		return fmt.Errorf("bridge: notification %s: %w", protocol.QuoteName(method), ctx.Err())
	case errors.Is(err, errPartlySent):
		return fmt.Errorf("bridge: notification %s: %w: %w", protocol.QuoteName(method), ctx.Err(), ErrPartlySent)
	}
	select {
	case <-c.ended:
		return c.err
	case <-ctx.Done():
		return fmt.Errorf("bridge: notification %s: %w (writing it had failed: %v)", protocol.QuoteName(method), ctx.Err(), err)
	}
}

// Handle registers (or, with h nil, removes) a method the other side can call. To be sure
// the other side cannot call it before it exists, use the option WithHandler.
func (c *Conn) Handle(method string, h Handler) {
	if c.zero() {
		return
	}
	c.hmu.Lock()
	defer c.hmu.Unlock()
	if h == nil {
		delete(c.handlers, method)
	} else {
		c.handlers[method] = h
	}
}

// OnMessage registers (or, with fn nil, removes) the listener for values the other side
// sends, replacing the one given by the option OnMessage.
func (c *Conn) OnMessage(fn func(v any)) {
	if fn == nil {
		c.OnNotification(protocol.MethodMessage, nil)
		return
	}
	c.OnNotification(protocol.MethodMessage, messageHandler(fn))
}

// OnNotification registers (or, with fn nil, removes) the handler for the other side's
// notifications named method.
func (c *Conn) OnNotification(method string, fn NotificationHandler) {
	if c.zero() {
		return
	}
	c.hmu.Lock()
	defer c.hmu.Unlock()
	if fn == nil {
		delete(c.notify, method)
	} else {
		c.notify[method] = fn
	}
}

// InFlight returns the number of calls to the other side waiting for their answer.
func (c *Conn) InFlight() int {
	if c.zero() {
		return 0
	}
	return c.calls.len()
}

// Drain stops running new requests from the other side (they are answered with the
// Stopping error, so the other side may send them elsewhere) and waits until the requests
// already running have been answered and the messages and notifications already received
// have been handled, or ctx ends. Calls, messages and notifications to the other side go on
// as before. A child calls it on $stop, then Flush, then Close.
func (c *Conn) Drain(ctx context.Context) error {
	if ctx == nil {
		return errNilContext
	}
	if c.zero() {
		return errZeroConn
	}
	if !c.waitIdle(ctx.Done()) {
		return ctx.Err()
	}
	return nil
}

// waitIdle makes later requests get the Stopping error, then waits until no request
// handler and no message or notification handler runs (true), or done is closed first
// (false).
func (c *Conn) waitIdle(done <-chan struct{}) bool {
	for _, idle := range []func() <-chan struct{}{c.beginStop, c.in.notesIdle} {
		select {
		case <-idle():
		case <-done:
			return false
		}
	}
	return true
}

// Flush waits until every frame this side sent has been written to the stream (a frame
// sent while another write was in progress is queued and written by a goroutine of the
// Conn), or ctx ends. A child calls it before it exits.
func (c *Conn) Flush(ctx context.Context) error {
	if ctx == nil {
		return errNilContext
	}
	if c.zero() {
		return errZeroConn
	}
	return c.out.flush(ctx)
}

// beginStop makes later requests get the Stopping error and returns a channel closed once
// no request is running.
func (c *Conn) beginStop() <-chan struct{} {
	c.smu.Lock()
	defer c.smu.Unlock()
	c.stopping = true
	if c.idle == nil {
		c.idle = make(chan struct{})
		if len(c.serving) == 0 {
			close(c.idle)
		}
	}
	return c.idle
}

// Close ends the session: calls in flight and later calls fail with ErrClosed, running
// request handlers see their context cancelled, messages and notifications not yet handled
// are dropped (also those left when the stream had ended by itself), and r and w are
// closed if they are io.Closers. It returns once the Conn's goroutines have returned,
// without waiting for handlers: neither a request handler nor a notification (OnMessage)
// handler running then is waited for; it runs on, and what it sends fails. Close is safe
// to call more than once and concurrently, also from a handler; it returns nil.
func (c *Conn) Close() error { return c.CloseWithError(ErrClosed) }

// CloseWithError is Close, but calls in flight and later calls fail with err (which must
// not be nil) instead of ErrClosed. Only the first Close or CloseWithError chooses the
// error.
func (c *Conn) CloseWithError(err error) error {
	if c.zero() {
		return errZeroConn
	}
	c.closeAndWait(err, closedChan)
	return nil
}

// closedChan is a channel that is always closed.
var closedChan = func() chan struct{} { ch := make(chan struct{}); close(ch); return ch }()

// closeAndWait ends the session with err (ErrClosed if nil), as Close does, and waits for
// the Conn's goroutines; what the other side sent before the stream ended is still handled
// (a Process's clean exit) until cut is closed: then what waits for a handler is dropped
// and a notification handler running then is no longer waited for.
func (c *Conn) closeAndWait(err error, cut <-chan struct{}) {
	if err == nil {
		err = ErrClosed
	}
	c.closing.Store(true)
	c.end(err, true)
	select {
	case <-c.done:
		return
	case <-cut:
	}
	c.discard()
	<-c.done
}

// discard drops the messages and notifications that wait for their handler, and stops Done
// from waiting for a notification handler that runs now: its goroutine returns when the
// handler does. The session must have ended.
func (c *Conn) discard() {
	dropped, running := c.in.drop()
	if running {
		c.leaveNotify()
	}
	if dropped > 0 || running {
		c.logf(slog.LevelWarn, "the session ended before the host handled everything the other side sent: dropped",
			"notifications_dropped", dropped, "handler_still_running", running)
	}
}

// Done is closed when the session has ended and the Conn's goroutines have returned (but
// one running a notification handler when Close was called: see Close).
func (c *Conn) Done() <-chan struct{} {
	if c.zero() {
		return closedChan
	}
	return c.done
}

// zero reports a Conn that NewConn did not make (see errZeroConn).
func (c *Conn) zero() bool { return c == nil || c.done == nil }

// inputEnds waits for the reading side to end (at the end of input, or at what broke the
// protocol, once OnEnd has decided on it) and reports whether it did. It gives up when grace
// passes without the reader ending, unless handlers took work meanwhile while the reader
// was held back for them (backpressure): then the stream still holds what the other side
// sent before it ended, and it is read and handled however long that takes. A reader that
// is not held back reads what is left in moments; past grace it waits for input that does
// not come (a grandchild holds the stream open), or handlers are stuck.
// A closed cut gives up at once.
func (c *Conn) inputEnds(grace time.Duration, cut <-chan struct{}) bool {
	taken, pauses, _ := c.in.backlog()
	for !closedWithinUnless(c.readEnd, grace, cut) {
		nowTaken, nowPauses, paused := c.in.backlog()
		if nowTaken == taken || !paused && nowPauses == pauses {
			return false
		}
		taken, pauses = nowTaken, nowPauses
	}
	return true
}

// Err returns why the session ended, or nil while it runs: ErrClosed after Close, what
// OnEnd decided when the stream ended by itself (by default a *ProtocolError, or the read
// or write error; io.EOF at a clean end of input).
func (c *Conn) Err() error {
	if c.zero() {
		return errZeroConn
	}
	select {
	case <-c.ended:
		return c.err
	default:
		return nil
	}
}

// streamEnded ends the session because the stream ended by itself (cause: io.EOF, a
// *protocol.Error, a read or *writeError), unless Close got there first.
func (c *Conn) streamEnded(cause error) {
	if c.closing.Load() {
		return // CloseWithError ends the session, with its own error
	}
	var err error
	if c.cfg.onEnd != nil {
		err = c.cfg.onEnd(cause)
	} else {
		err = c.defaultEnd(cause)
	}
	if err == nil {
		err = io.EOF
	}
	c.end(err, false)
}

// defaultEnd is what the session ends with when OnEnd was not given.
func (c *Conn) defaultEnd(cause error) error {
	var pe *protocol.Error
	if errors.As(cause, &pe) {
		return &ProtocolError{Name: c.cfg.name, Err: cause}
	}
	if errors.Is(cause, io.EOF) {
		return io.EOF
	}
	return fmt.Errorf("bridge: %w", cause)
}

// end ends the session with err once: fails every pending call, cancels running handlers,
// ends the writer and closes the streams. With drop, notifications not yet handled are
// dropped; otherwise notifyLoop handles them first (what the other side sent before a clean
// end is not lost).
func (c *Conn) end(err error, drop bool) {
	c.endOnce.Do(func() {
		c.err = err
		close(c.ended)
		c.calls.failAll(err)
		c.cancelBase()
		for _, r := range c.in.end(drop) {
			c.forgetServing(r.id)
		}
		c.out.fail(errWriterClosed)
		c.closeStreams()
		c.wakeReader()
		if c.parkTimer != nil {
			c.parkTimer.Stop()
		}
	})
}

// closeStreams closes r and w if they can be closed.
func (c *Conn) closeStreams() {
	if rc, ok := c.r.(io.Closer); ok {
		_ = rc.Close()
	}
	if wc, ok := c.w.(io.Closer); ok && any(c.w) != any(c.r) {
		_ = wc.Close()
	}
}

// closeOutput ends this side's output (the other side reads end of file, which means $stop
// to a child) while reading goes on. Later writes fail quietly; the session is unharmed.
func (c *Conn) closeOutput() {
	c.out.fail(errWriterClosed)
	if wc, ok := c.w.(io.Closer); ok && any(c.w) != any(c.r) {
		_ = wc.Close()
	}
}

// quiet returns a channel closed once no call of this side waits for an answer and no
// request of the other side is being handled.
func (c *Conn) quiet() <-chan struct{} {
	ch := make(chan struct{})
	c.quietCh.Store(&ch)
	c.checkQuiet()
	return ch
}

// checkQuiet closes the quiet channel if someone waits for it and no call is in flight.
func (c *Conn) checkQuiet() {
	if c.quietCh.Load() == nil || c.calls.len() != 0 {
		return
	}
	c.smu.Lock()
	n := len(c.serving)
	c.smu.Unlock()
	if n == 0 {
		if p := c.quietCh.Swap(nil); p != nil {
			close(*p)
		}
	}
}

// wakeReader wakes the reader if it waits for handlers to catch up (a call was added).
func (c *Conn) wakeReader() {
	if c.wake.Load() != nil {
		if p := c.wake.Swap(nil); p != nil {
			close(*p)
		}
	}
}

func (c *Conn) wakeChan() <-chan struct{} {
	ch := make(chan struct{})
	c.wake.Store(&ch)
	return ch
}

// logf logs at level through the configured logger; without one, only errors are logged,
// to slog.Default().
func (c *Conn) logf(level slog.Level, msg string, args ...any) {
	l := c.cfg.logger
	if l == nil {
		if level < slog.LevelError {
			return
		}
		l = slog.Default()
	}
	if c.cfg.name != "" {
		args = append(args, "name", c.cfg.name)
	}
	l.Log(context.Background(), level, "polyfork: "+msg, args...)
}
