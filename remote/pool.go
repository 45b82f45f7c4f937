package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/protocol"
)

// Pool calls the workers of a service through NATS, with the Call, Send and Notify of a
// local bridge.Pool: the agents serving the service (several, on several machines) share
// its calls, each on a local pool of its own. It satisfies bridge.Caller.
//
// A Pool owns a subscription to its reply inbox (answers and heartbeats), one goroutine
// that fails calls whose agent went silent or whose connection was lost (and cancels them
// at the agents), a goroutine per request being published, and, with
// OnMessage or OnNotification, a subscription to the service's events. It does not own
// the NATS connection: Close leaves it open. Every method is safe for concurrent use. A Pool
// is made by Dial: the methods of a zero Pool do nothing, and those that return an error say
// so.
type Pool struct {
	nc      *nats.Conn
	service string
	subj    subjects
	cfg     config
	inbox   string // reply subjects are inbox + "." + token
	calls   *callTable
	objects *objects
	log     *slog.Logger

	encoders sync.Pool
	js       jetstream.JetStream // with WithDurableSends

	sub    *nats.Subscription // inbox.*
	events *nats.Subscription // the service's events, or nil
	status chan nats.Status

	upMu   sync.Mutex
	up     chan struct{} // closed while the connection is up; replaced when it goes down
	backAt time.Time     // under upMu: when the connection last came back, or zero

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup

	// publishing holds a token per publish under way (see attempt): on a stalled
	// connection each holds its goroutine and its body for up to the FlusherTimeout, and
	// the calls that come meanwhile wait for a token instead of adding goroutines.
	publishing chan struct{}
}

// maxPublishing bounds the publishes under way at once per Pool.
const maxPublishing = 256

// The states of one publish (see attempt).
const (
	pubRunning int32 = iota
	pubDone
	pubAbandoned
)

var _ bridge.Caller = (*Pool)(nil)

// Dial returns a remote pool of the service name on nc. It checks nothing on the network:
// a call made while no agent serves the service fails with ErrNoAgents. With
// WithDurableSends it creates the service's JetStream stream if it does not exist.
// Invalid options give an error matching bridge.ErrInvalidOption.
func Dial(ctx context.Context, nc *nats.Conn, name string, opts ...Option) (*Pool, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	if err := CheckServiceName(name); err != nil {
		return nil, err
	}
	if nc == nil {
		return nil, errNilConn
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if !nc.HeadersSupported() {
		return nil, errors.New("remote: the NATS server does not support headers (it is older than 2.2)")
	}
	p := &Pool{
		nc: nc, service: name, subj: subjectsOf(name), cfg: cfg, inbox: nc.NewInbox(),
		calls: newCallTable(), objects: newObjects(nc, name), log: cfg.logger,
		up: make(chan struct{}), closed: make(chan struct{}), publishing: make(chan struct{}, maxPublishing),
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.encoders.New = func() any {
		e := protocol.NewEncoder()
		e.SetMaxValues(cfg.maxValues)
		return e
	}
	if nc.IsConnected() {
		close(p.up)
	}
	p.objects.remember()
	if cfg.durable {
		if p.js, err = jetstream.New(nc); err == nil {
			_, err = ensureStream(ctx, p.js, name)
		}
		if err != nil {
			return nil, fmt.Errorf("remote: durable sends of %s: %w", name, err)
		}
	}
	// The status listener is registered before the inbox subscription, so that a
	// disconnection after the first call went out is always seen.
	p.status = nc.StatusChanged(nats.CONNECTED, nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	if p.sub, err = nc.Subscribe(p.inbox+".*", p.onReply); err == nil {
		err = p.sub.SetPendingLimits(-1, -1) // answers are bounded by the calls in flight
	}
	if err == nil && (cfg.onMessage != nil || len(cfg.notify) > 0) {
		p.events, err = nc.Subscribe(p.subj.events, p.onEvent)
	}
	if err != nil {
		p.unsubscribe()
		return nil, fmt.Errorf("remote: subscribing: %w", err)
	}
	p.wg.Add(1)
	go p.watch()
	return p, nil
}

// Service returns the name of the service the pool calls.
func (p *Pool) Service() string { return p.service }

// Call calls method on one worker of one agent of the service; see bridge.Caller. The
// method, params and result travel as msgpack, the context's deadline travels with the call
// (the agent applies it), and cancelling ctx cancels the worker's handler as $cancel does
// locally.
//
// A call fails at once with ErrNoAgents when no agent serves the service; with
// ErrAgentLost when the agent that took it stops answering and beating for the heartbeat
// bound, or when publishing it has not completed by then (the connection takes no data);
// with ErrDisconnected when the connection drops while it is in flight; with an
// *Error when the agent answered with a failure (errors.As finds the worker's
// *bridge.RemoteError when the handler raised). A call the agent did not run (it was
// saturated or stopping) is sent again, to whichever agent NATS picks, up to the retries
// of WithRetries. With bridge.Idempotent, a call whose agent went silent, lost its worker
// or lost the connection is sent again too. Params or results above the server's maximum
// payload travel through the JetStream object store, or fail with a *PayloadError.
func (p *Pool) Call(ctx context.Context, method string, params, result any, opts ...bridge.CallOption) error {
	if ctx == nil {
		return errNilContext
	}
	if p.zero() {
		return errZeroPool
	}
	enc := p.encoders.Get().(*protocol.Encoder)
	frame, err := enc.Request(0, method, params)
	if err != nil {
		p.encoders.Put(enc)
		return callError(method, err)
	}
	co := readCallOptions(opts)
	m, inUse, err := p.exchange(ctx, p.subj.call, method, frame[4:], co, "params of ")
	if !inUse {
		p.encoders.Put(enc)
	}
	if co.worker != nil {
		reportWorker(co.worker, m, err)
	}
	if err != nil {
		return err
	}
	return p.decodeAnswer(ctx, method, m, result)
}

// reportWorker fills w (bridge.ReportWorker) with the worker an answer names, or the one
// a failure names: "host[pid]/name[pid]", Pid 0 since it is not a local process.
func reportWorker(w *bridge.Worker, m *nats.Msg, err error) {
	var host, worker string
	var e *Error
	switch {
	case m != nil:
		host, worker = m.Header.Get(HeaderHost), m.Header.Get(HeaderWorker)
	case errors.As(err, &e):
		host, worker = e.Host, e.Worker
	}
	if worker != "" {
		*w = bridge.Worker{Name: host + "/" + worker}
	}
}

// Send sends v to the on('message') listeners of one worker of one agent (the agent NATS
// picks, then the least busy worker there). It returns once that agent has handed the
// message to a worker. With WithDurableSends, it returns once the service's stream has
// stored the message instead.
func (p *Pool) Send(ctx context.Context, v any) error {
	if ctx == nil {
		return errNilContext
	}
	return p.notify(ctx, protocol.MethodMessage, []any{v})
}

// Notify sends the notification method with params to one worker of one agent, as Send
// does. Names starting with '$' are reserved for the protocol.
func (p *Pool) Notify(ctx context.Context, method string, params ...any) error {
	if ctx == nil {
		return errNilContext
	}
	if method == "" || method[0] == '$' {
		return fmt.Errorf("remote: notification name %q is empty or reserved (names starting with '$' are the protocol's)", method)
	}
	if params == nil {
		params = []any{}
	}
	return p.notify(ctx, method, params)
}

func (p *Pool) notify(ctx context.Context, method string, params []any) error {
	if p.zero() {
		return errZeroPool
	}
	enc := p.encoders.Get().(*protocol.Encoder)
	frame, err := enc.Notification(method, params)
	if err != nil {
		p.encoders.Put(enc)
		return fmt.Errorf("remote: %w", err)
	}
	body := frame[4:]
	if p.js != nil && method == protocol.MethodMessage {
		defer p.encoders.Put(enc)
		return p.sendDurable(ctx, body)
	}
	m, inUse, err := p.exchange(ctx, p.subj.notify, method, body, callOptions{}, "a notification ")
	if !inUse {
		p.encoders.Put(enc)
	}
	if err != nil {
		return err
	}
	return p.decodeAnswer(ctx, method, m, nil)
}

// exchange sends body to subject and returns the final answer, sending it again as the
// retry rules of Call say. It returns an error for everything but an answer: a failure
// answer is decoded by decodeAnswer. what, followed by the quoted method, names the body
// in errors.
//
// inUse reports that an attempt's publish had not returned when it gave up on it: body is
// still being read, so the caller must not reuse it.
func (p *Pool) exchange(ctx context.Context, subject, method string, body []byte, co callOptions, what string) (_ *nats.Msg, inUse bool, _ error) {
	idem := co.idempotent
	object := ""
	if !p.objects.fits(len(body)) {
		name, err := p.objects.put(ctx, body)
		if err != nil {
			return nil, inUse, &PayloadError{What: what + protocol.QuoteName(method), Size: int64(len(body)), Limit: p.objects.limit(), Err: err}
		}
		object = name
		defer p.objects.remove(name)
	}
	notRun, lost, drops := 0, 0, 0
	var regroup time.Time // after a drop: until then, agents may still be reconnecting
	// maybeRan is the failure of an earlier attempt that may have run (an Idempotent call
	// sent again): a later "not run" must not be the whole story.
	var maybeRan error
	for {
		m, busy, err := p.attempt(ctx, subject, method, body, object, co.worker != nil)
		inUse = inUse || busy
		if err == nil {
			code := answerCode(m)
			switch {
			case code == 0:
				return m, inUse, nil
			case code == CodeNotRun && notRun < p.cfg.notRunTries:
				notRun++
				if err := p.backoff(ctx, notRun); err != nil {
					return nil, inUse, fmt.Errorf("remote: call %q: %w (the agents were busy: %v)", method, err, decodeError(method, m))
				}
				continue
			case code == CodeWorkerDied && idem && lost < p.cfg.lostTries:
				lost++
				maybeRan = decodeError(method, m)
				continue
			case code == CodeNotRun && maybeRan != nil:
				return nil, inUse, ranBefore(maybeRan, decodeError(method, m))
			}
			return m, inUse, nil
		}
		switch {
		case ctx.Err() != nil:
		case errors.Is(err, ErrNoAgents) && (time.Now().Before(regroup) || p.justBack()):
			// Back before the agents (the server restarted): give them the heartbeat
			// bound to subscribe again. No responders: the call was not run, so this holds
			// for every call, idempotent or not, and for calls made during the outage.
			notRun++
			if p.backoff(ctx, notRun) == nil {
				continue
			}
		case !idem:
		case errors.Is(err, ErrDisconnected) && drops < maxDrops:
			// A connection that comes back and drops again costs no try of its own: each
			// retry waits for it to be up (waitUp), for at most the heartbeat bound.
			drops++
			regroup = time.Now().Add(p.cfg.heartbeat)
			maybeRan = err
			continue
		case errors.Is(err, ErrAgentLost) && lost < p.cfg.lostTries:
			lost++
			maybeRan = err
			continue
		}
		if maybeRan != nil && errors.Is(err, ErrNoAgents) {
			return nil, inUse, ranBefore(maybeRan, err)
		}
		return nil, inUse, err
	}
}

// ranBefore is the failure of a call sent again after an attempt that may have run
// (earlier), whose last attempt was not run (last): it matches earlier's sentinels, since
// the call may have run, and says both.
func ranBefore(earlier, last error) error {
	return fmt.Errorf("%w; sent again, it was not run: %v", earlier, strings.TrimPrefix(last.Error(), "remote: "))
}

// justBack reports whether the connection came back less than the heartbeat bound ago.
func (p *Pool) justBack() bool {
	p.upMu.Lock()
	defer p.upMu.Unlock()
	return !p.backAt.IsZero() && time.Since(p.backAt) < p.cfg.heartbeat
}

// maxBacklogTicks bounds how many ticks in a row the watchdog waits for the inbox to catch
// up before it judges calls anyway.
const maxBacklogTicks = 4

// maxDrops bounds how many times an Idempotent call is sent again after the connection
// dropped under it.
const maxDrops = 5

// attempt sends body once and waits for the final answer. inUse reports that the publish
// had not returned when it gave up: body is still being read, and must not be reused.
func (p *Pool) attempt(ctx context.Context, subject, method string, body []byte, object string, report bool) (m *nats.Msg, inUse bool, err error) {
	if err := p.waitUp(ctx, method); err != nil {
		return nil, false, err
	}
	msg := &nats.Msg{Subject: subject, Header: nats.Header{HeaderBeat: []string{millis(p.cfg.heartbeat / 4)}}, Data: body}
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			return nil, false, callError(method, context.DeadlineExceeded)
		}
		msg.Header[HeaderTimeout] = []string{millis(left)}
	}
	if object != "" {
		msg.Header[HeaderObject] = []string{object}
		msg.Data = nil
	}
	if report {
		msg.Header[HeaderReport] = []string{reportWorkerValue}
	}
	c, token, err := p.calls.add(time.Now())
	if err != nil {
		return nil, false, err
	}
	msg.Reply = p.inbox + "." + token
	const unsent = " (publishing the call to NATS had not completed: the connection takes no data, or the server reads it slowly)"
	select {
	case p.publishing <- struct{}{}:
	case <-ctx.Done(): // maxPublishing publishes are stuck: this one never started
		p.calls.drop(token, c)
		return nil, false, callError(method, fmt.Errorf("%w"+unsent, ctx.Err()))
	case <-c.done: // the watchdog gave up on it, or the pool closed
		failed := c.err
		c.recycle()
		return nil, false, callError(method, fmt.Errorf("%w"+unsent, failed))
	}
	// PublishMsg blocks, holding the connection's lock, while the socket takes no data (a
	// stalled network, a server that stopped reading), for up to the connection's
	// FlusherTimeout (a minute by default), whatever the call's context says: it runs on
	// a goroutine of its own, and the call stops waiting for it at its deadline, or when
	// the watchdog gives up on the call (the heartbeat bound), with the watchdog's error.
	// The publish's goroutine and a caller that gives up on it settle, through pubState,
	// which of them follows the request with a $cancel if it ever leaves: the goroutine,
	// once PublishMsg returns, so that a stall leaves one goroutine per stuck publish
	// (maxPublishing at most), not two.
	pub := make(chan error, 1)
	var pubState atomic.Int32 // pubRunning, then pubDone or pubAbandoned
	go func() {
		err := p.nc.PublishMsg(msg)
		if !pubState.CompareAndSwap(pubRunning, pubDone) && err == nil {
			// Given up on while it was stuck: past a deadline too, which the request
			// carries as a time left counted from before the stall.
			p.cancel(msg.Reply)
		}
		pub <- err
		<-p.publishing
	}()
	select {
	case err = <-pub:
	case <-ctx.Done():
		if pubState.CompareAndSwap(pubRunning, pubAbandoned) {
			p.calls.drop(token, c)
			return nil, true, callError(method, fmt.Errorf("%w"+unsent, ctx.Err()))
		}
		err = <-pub // published too: the wait below ends the call
	case <-c.done:
		if c.msg != nil {
			// The answer: the request left, and its publish is returning (its goroutine may
			// not have run since).
			err = <-pub
		} else {
			select {
			case err = <-pub: // published too
			default:
				failed := c.err // the watchdog's ErrAgentLost, a drop's ErrDisconnected, or Close's
				c.recycle()
				return nil, true, callError(method, fmt.Errorf("%w"+unsent, failed))
			}
		}
		if err == nil {
			c.done <- struct{}{} // for the wait below
		} else {
			c.recycle()
			c = nil
		}
	}
	if err != nil {
		if c != nil {
			p.calls.drop(token, c)
		}
		if errors.Is(err, nats.ErrMaxPayload) {
			return nil, false, &PayloadError{What: "params of " + protocol.QuoteName(method), Size: int64(len(body)), Limit: p.nc.MaxPayload()}
		}
		return nil, false, fmt.Errorf("remote: call %q: publishing: %w", method, err)
	}
	if done := ctx.Done(); done == nil {
		<-c.done
	} else {
		select {
		case <-c.done:
		case <-done:
			if p.calls.forget(token, c) {
				c.recycle()
				if errors.Is(ctx.Err(), context.Canceled) {
					go p.cancel(msg.Reply) // not held up by a stalled connection
				} // a deadline travelled with the call: the agent ends it by itself
				return nil, false, callError(method, ctx.Err())
			}
			<-c.done // the answer won the race
		}
	}
	m, err = c.msg, c.err
	c.recycle()
	if err != nil {
		return nil, false, callError(method, err)
	}
	if isNoResponders(m) {
		return nil, false, callError(method, fmt.Errorf("%w %q (NATS: no responders on %s)", ErrNoAgents, p.service, subject))
	}
	return m, false, nil
}

// cancel tells the agents that the call answering to reply is given up.
func (p *Pool) cancel(reply string) {
	_ = p.nc.Publish(p.subj.cancel, []byte(reply))
}

// backoff waits before the n-th try of a call that was not run: 1 ms doubling to 100 ms,
// with jitter, so that the callers of a saturated service do not all come back at once.
func (p *Pool) backoff(ctx context.Context, n int) error {
	d := time.Millisecond << min(n-1, 7)
	d = min(d, 100*time.Millisecond)
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitUp waits until the connection is up, for at most the heartbeat bound.
func (p *Pool) waitUp(ctx context.Context, method string) error {
	p.upMu.Lock()
	up := p.up
	p.upMu.Unlock()
	select {
	case <-up:
		return nil
	default:
	}
	select {
	case <-p.closed:
		return callError(method, bridge.ErrClosed)
	default:
	}
	if p.nc.IsClosed() {
		return callError(method, fmt.Errorf("%w: the NATS connection is closed", ErrDisconnected))
	}
	t := time.NewTimer(p.cfg.heartbeat)
	defer t.Stop()
	select {
	case <-up:
		return nil
	case <-t.C:
		return callError(method, fmt.Errorf("%w: still reconnecting after %v", ErrDisconnected, p.cfg.heartbeat))
	case <-ctx.Done():
		return callError(method, ctx.Err())
	case <-p.closed:
		return callError(method, bridge.ErrClosed)
	}
}

// onReply receives answers and beats on the inbox.
func (p *Pool) onReply(m *nats.Msg) {
	if len(m.Subject) <= len(p.inbox)+1 {
		return
	}
	token := m.Subject[len(p.inbox)+1:]
	if m.Header != nil && m.Header.Get(HeaderStatus) == statusBeat {
		p.calls.beat(token, time.Now(), agentOf(m.Header))
		return
	}
	p.calls.answer(token, m)
}

// agentOf describes the agent that sent headers h, for errors.
func agentOf(h nats.Header) string {
	host, id := h.Get(HeaderHost), h.Get(HeaderAgent)
	switch {
	case host == "":
		return id
	case id == "":
		return host
	}
	return host + " " + id
}

// watch fails calls whose agent went silent and calls in flight when the connection goes
// down, until Close.
func (p *Pool) watch() {
	defer p.wg.Done()
	// Beats come every quarter of the bound; a call is lost after three quarters of silence
	// (two beats missed), checked every eighth, so that it fails within the bound.
	every := p.cfg.heartbeat / 8
	tick := time.NewTicker(every)
	defer tick.Stop()
	silence := p.cfg.heartbeat * 3 / 4
	last := time.Now()
	backlog := 0 // ticks skipped in a row because the inbox had messages waiting
	for {
		select {
		case now := <-tick.C:
			stalled := now.Sub(last) > 2*every
			last = now
			if stalled {
				// This process did not run for a while (an overloaded machine, a long GC
				// pause): beats that came meanwhile may not have been read yet. Judge at
				// the next tick instead of failing calls for this process's own silence.
				continue
			}
			if n, _, err := p.sub.Pending(); err == nil && n > 0 && backlog < maxBacklogTicks {
				// Answers and beats wait to be handled here: give them up to a few ticks.
				backlog++
				continue
			}
			backlog = 0
			p.cancelGivenUp(p.calls.expire(now.Add(-silence), func(agent string) error {
				if agent == "" {
					return fmt.Errorf("%w: no answer and no heartbeat for %v (remote.WithHeartbeat %v): the agent that took the call died, hangs, or could not be reached", ErrAgentLost, silence, p.cfg.heartbeat)
				}
				return fmt.Errorf("%w: agent %s sent no answer and no heartbeat for %v (remote.WithHeartbeat %v)", ErrAgentLost, agent, silence, p.cfg.heartbeat)
			}))
		case st, ok := <-p.status:
			if !ok {
				return
			}
			p.statusChanged(st)
		case <-p.closed:
			return
		}
	}
}

// statusChanged follows the connection: calls in flight when it goes down fail, since
// their answers may be lost with it.
func (p *Pool) statusChanged(st nats.Status) {
	p.upMu.Lock()
	defer p.upMu.Unlock()
	select {
	case <-p.up:
		if st == nats.CONNECTED {
			return
		}
		p.up = make(chan struct{})
	default:
		if st == nats.CONNECTED {
			close(p.up)
			p.backAt = time.Now()
			go p.objects.remember() // the server may be another one; not under its lock here
			return
		}
	}
	if n := p.calls.len(); n > 0 {
		p.handleDelivered()
		p.log.Warn("polyfork: remote: NATS connection lost with calls in flight", "service", p.service, "status", st.String(), "calls", p.calls.len())
	}
	p.cancelGivenUp(p.calls.failAll(fmt.Errorf("%w (connection %s); the call may or may not have run", ErrDisconnected, st), false))
}

// handleDeliveredWithin bounds the wait, as the connection goes down, for the answers it
// had delivered to be handled.
const handleDeliveredWithin = 250 * time.Millisecond

// handleDelivered waits until the answers and beats the connection delivered before it
// went down are handled (the inbox subscription's pending messages, counted until their
// handler returns), for at most handleDeliveredWithin. nats.go hands them to onReply on a
// goroutine of its own, and tells of the drop on another: failing the calls in flight at
// once failed calls whose answers had arrived, with ErrDisconnected ("may or may not have
// run"). Nothing more arrives while the connection is down.
func (p *Pool) handleDelivered() {
	deadline := time.Now().Add(handleDeliveredWithin)
	for {
		n, _, err := p.sub.Pending()
		if err != nil || n == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// cancelGivenUp tells the agents that the calls of tokens, failed by the pool (their
// agent went silent, or the connection dropped), are given up, as a cancelled call is.
// Without it an agent that was cut off, or whose caller reconnected, ran them on, holding
// a place, for as long as their handlers ran (for ever for one that waits): its beats
// reached the caller's inbox again, so nothing told it. The cancels are published from a
// goroutine of their own: a stalled connection must not hold up the watchdog, and while
// the connection is down they wait in its reconnect buffer.
func (p *Pool) cancelGivenUp(tokens []string) {
	if len(tokens) == 0 {
		return
	}
	go func() {
		for _, token := range tokens {
			p.cancel(p.inbox + "." + token)
		}
	}()
}

// onEvent delivers a worker's message or notification to the callbacks.
func (p *Pool) onEvent(m *nats.Msg) {
	msg, err := protocol.DecodeMessage(m.Data, p.cfg.maxValues)
	if err == nil && msg.Kind != protocol.KindNotification {
		err = fmt.Errorf("an event must be a notification, got a %s", msg.Kind)
	}
	if err != nil {
		p.log.Warn("polyfork: remote: dropped an event that is not a notification", "service", p.service, "agent", agentOf(m.Header), "err", err)
		return
	}
	if msg.Method == protocol.MethodMessage {
		if p.cfg.onMessage == nil {
			return
		}
		items, err := protocol.SplitArray(msg.Params)
		var v any
		if err == nil && len(items) != 1 {
			err = fmt.Errorf("a message has exactly one param, got %d", len(items))
		}
		if err == nil {
			v, err = protocol.DecodeValue(items[0])
		}
		if err != nil {
			p.log.Warn("polyfork: remote: dropped a message", "service", p.service, "agent", agentOf(m.Header), "err", err)
			return
		}
		p.cfg.onMessage(v)
		return
	}
	fn := p.cfg.notify[msg.Method]
	if fn == nil {
		return
	}
	args, err := bridge.NewArgs(bytes.Clone(msg.Params))
	if err != nil {
		p.log.Warn("polyfork: remote: dropped a notification", "service", p.service, "method", msg.Method, "err", err)
		return
	}
	fn(args)
}

// decodeAnswer turns an answer into result or an error.
func (p *Pool) decodeAnswer(ctx context.Context, method string, m *nats.Msg, result any) error {
	if answerCode(m) != 0 {
		return decodeError(method, m)
	}
	data := m.Data
	if name := m.Header.Get(HeaderObject); name != "" && len(data) == 0 {
		var err error
		data, err = p.objects.get(ctx, name)
		if err != nil {
			return fmt.Errorf("remote: call %q: reading the result from the object store: %w", method, err)
		}
		p.objects.remove(name)
	}
	msg, err := protocol.DecodeMessage(data, p.cfg.maxValues)
	if err == nil && msg.Kind != protocol.KindResponse {
		err = fmt.Errorf("want a response, got a %s", msg.Kind)
	}
	if err != nil {
		return fmt.Errorf("remote: call %q: the agent %s sent an answer that is not a polyfork response: %w", method, agentOf(m.Header), &bridge.ProtocolError{Name: agentOf(m.Header), Err: err})
	}
	if msg.Error != nil {
		return &Error{Method: method, Code: CodeRaised, Remote: remoteError(method, msg.Error),
			Agent: m.Header.Get(HeaderAgent), Host: m.Header.Get(HeaderHost), Worker: m.Header.Get(HeaderWorker)}
	}
	if result != nil {
		if err := protocol.UnmarshalChecked(msg.Result, result); err != nil {
			return fmt.Errorf("remote: call %q: decoding the result: %w", method, err)
		}
	}
	return nil
}

// answerCode returns the code of an error answer (HeaderErrorCode), or 0 for a result.
func answerCode(m *nats.Msg) int {
	if m.Header == nil {
		return 0
	}
	s := m.Header.Get(HeaderErrorCode)
	if s == "" {
		return 0
	}
	code, err := strconv.Atoi(s)
	if err != nil || code == 0 {
		return CodeWorkerDied // an error of a kind this side does not know
	}
	return code
}

// decodeError decodes an error answer: the error map of its body, the agent and worker of
// its headers.
func decodeError(method string, m *nats.Msg) error {
	e := &Error{Method: method, Code: answerCode(m), Agent: m.Header.Get(HeaderAgent), Host: m.Header.Get(HeaderHost),
		Worker: m.Header.Get(HeaderWorker)}
	msg, err := protocol.DecodeMessage(m.Data, 0)
	if err == nil && msg.Kind == protocol.KindResponse && msg.Error != nil {
		e.Remote = remoteError(method, msg.Error)
	} else {
		e.Remote = &bridge.RemoteError{Method: method, Type: "Error", Message: m.Header.Get(HeaderError)}
	}
	return e
}

func remoteError(method string, ev *protocol.ErrorValue) *bridge.RemoteError {
	re := &bridge.RemoteError{Method: method, Type: ev.Type, Message: ev.Message, Traceback: ev.Traceback}
	if ev.Data != nil {
		re.Data = append([]byte(nil), ev.Data...)
	}
	return re
}

// sendDurable publishes a message to the service's stream.
func (p *Pool) sendDurable(ctx context.Context, body []byte) error {
	if !p.objects.fits(len(body)) {
		return &PayloadError{What: "a durable message", Size: int64(len(body)), Limit: p.objects.limit(),
			Err: errors.New("durable messages do not travel through the object store")}
	}
	if _, err := p.js.Publish(ctx, p.subj.durable, body); err != nil {
		return fmt.Errorf("remote: durable send to %s: %w", streamName(p.service), err)
	}
	return nil
}

// InFlight returns the number of calls waiting for their answer.
func (p *Pool) InFlight() int {
	if p.zero() {
		return 0
	}
	return p.calls.len()
}

// zero reports a Pool that Dial did not make (see errZeroPool).
func (p *Pool) zero() bool { return p == nil || p.closed == nil }

// Close stops the pool: calls in flight and later calls fail with bridge.ErrClosed, and its
// subscriptions end. The NATS connection stays open. It returns once the pool's goroutine
// has returned, and is safe to call more than once.
func (p *Pool) Close() error {
	if p.zero() {
		return errZeroPool
	}
	p.closeOnce.Do(func() {
		close(p.closed)
		p.cancelGivenUp(p.calls.failAll(bridge.ErrClosed, true)) // the agents end them too
		p.unsubscribe()
		p.wg.Wait()
	})
	return nil
}

func (p *Pool) unsubscribe() {
	if p.sub != nil {
		_ = p.sub.Unsubscribe()
	}
	if p.events != nil {
		_ = p.events.Unsubscribe()
	}
	if p.status != nil {
		p.nc.RemoveStatusListener(p.status)
	}
}
