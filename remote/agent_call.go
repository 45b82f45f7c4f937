package remote

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/protocol"
	"github.com/vmihailenco/msgpack/v5"
)

// cancelMemory is how long a $cancel that arrived before its call is remembered.
const cancelMemory = time.Minute

// Bounds on what a flood of cancels can make an agent remember: a cancel names a reply
// subject (an inbox, well under maxReplySubject bytes), and at most maxCancelsRemembered
// early cancels are kept; past that, an early cancel is dropped (its call then runs, as it
// would have had the cancel been lost).
const (
	maxReplySubject      = 256
	maxCancelsRemembered = 4096
)

// errAgentStopped ends the calls still running when the agent is killed or its drain
// ends: they are answered code 502, type TypeAgentStopped.
var errAgentStopped = errors.New("the agent stopped while the call ran (killed, or its drain ended before the call did); the call may have run in part")

// minBeat is the shortest beat interval an agent keeps: a request asking for beats more
// often than this gets them this often, so that a request cannot make an agent publish a
// beat every millisecond.
const minBeat = 10 * time.Millisecond

// request is what the agent reads from a call or notify message before it runs it.
type request struct {
	notify  bool // a message or notification, not a call
	report  bool // HeaderReport: name the worker on a successful answer too
	reply   string
	data    []byte
	object  string
	timeout time.Duration
	beat    time.Duration
}

// take reads a request and reserves a place for it, or answers it at once (bad headers, a
// stopping or saturated agent) and reports false. It runs on the endpoint's subscription
// goroutine, so it never blocks.
func (a *Agent) take(req micro.Request, what string) (request, bool) {
	r := request{reply: req.Reply(), data: req.Data()}
	if r.reply == "" {
		a.log.Warn("polyfork: remote: dropped a " + what + " without a reply subject")
		return r, false
	}
	h := nats.Header(req.Headers())
	var err error
	if r.timeout, err = parseMillis(h.Get(HeaderTimeout)); err == nil {
		r.beat, err = parseMillis(h.Get(HeaderBeat))
		if r.beat > 0 && r.beat < minBeat {
			r.beat = minBeat
		}
	}
	if err != nil {
		a.answerError(r.reply, CodeBadRequest, TypeBadRequest, "a header of the "+what+": "+err.Error(), "")
		return r, false
	}
	r.object = h.Get(HeaderObject)
	r.report = h.Get(HeaderReport) == reportWorkerValue
	a.mu.Lock()
	stopping := a.stopping // read with the Add below, so that Shutdown's Wait sees every call
	n := a.inFlight.Add(1)
	ok := !stopping && n <= a.max.Load()
	if ok {
		a.calls.Add(1)
	} else {
		a.inFlight.Add(-1)
	}
	a.mu.Unlock()
	switch {
	case stopping:
		a.answerError(r.reply, CodeNotRun, TypeStopping, "agent "+a.host+" is stopping; the "+what+" was not run", "")
	case !ok:
		a.saturated.Add(1)
		a.answerError(r.reply, CodeNotRun, TypeSaturated,
			fmt.Sprintf("agent %s has %d calls in flight, its maximum; the %s was not run", a.host, n-1, what), "")
	}
	return r, ok
}

// onCall serves the call endpoint.
func (a *Agent) onCall(req micro.Request) {
	if r, ok := a.take(req, "call"); ok {
		a.dispatch(r)
	}
}

// onNotify serves the notify endpoint: a message or notification for one worker.
func (a *Agent) onNotify(req micro.Request) {
	if r, ok := a.take(req, "notification"); ok {
		r.notify = true
		a.dispatch(r)
	}
}

// dispatch hands r to an idle server goroutine, or starts one. Server goroutines stay for
// the next requests (their stacks have grown to what a call needs), at most one per
// request in flight, until the agent stops.
func (a *Agent) dispatch(r request) {
	select {
	case a.idle <- r:
	default:
		go a.serve(r)
	}
}

func (a *Agent) serve(r request) {
	for {
		if r.notify {
			a.runNotify(r)
		} else {
			a.runCall(r)
		}
		select {
		case r = <-a.idle:
		case <-a.quit:
			return
		}
	}
}

// begin gives a request its context (with the caller's deadline, cancelled by $cancel) and
// starts its beats. end must be called when it is answered.
func (a *Agent) begin(r request) (ctx context.Context, end func()) {
	// Not derived from a context of the agent's: Kill cancels what is in running, with
	// errAgentStopped as the cause.
	base, cancel := context.WithCancelCause(context.Background())
	ctx, stopTimer := base, context.CancelFunc(func() {})
	if r.timeout > 0 {
		ctx, stopTimer = context.WithTimeout(base, r.timeout)
	}
	a.mu.Lock()
	if _, early := a.cancelled[r.reply]; early {
		delete(a.cancelled, r.reply)
		cancel(nil)
	}
	if a.killed {
		cancel(errAgentStopped)
	}
	a.running[r.reply] = cancel
	a.mu.Unlock()
	var stopBeats func()
	if r.beat > 0 {
		stopBeats = a.beats(r)
	}
	return ctx, func() {
		if stopBeats != nil {
			stopBeats()
		}
		a.mu.Lock()
		delete(a.running, r.reply)
		a.mu.Unlock()
		stopTimer()
		cancel(nil)
		a.inFlight.Add(-1)
		a.calls.Done()
	}
}

// callerGoneBeats is how many beats the NATS server must answer "no responders" (nobody
// subscribes to the call's reply subject any more) before the agent ends the call.
const callerGoneBeats = 2

// beatWatch follows the beats of one call, to notice a caller that is gone. The call's
// cancel is its entry in Agent.running, under the same reply subject.
type beatWatch struct {
	reply  string
	misses int
}

// beats sends a beat to r's reply subject every r.beat, from the first interval on, until
// the returned function is called. Each beat names a reply subject of the agent's, so that
// the NATS server tells the agent when nobody subscribes to the call's reply subject any
// more (a "no responders" status): the caller died, closed its connection, or lost it
// and, as callers do (SPEC 10.3, 5), failed the call. After callerGoneBeats of them the
// call is cancelled (onBeatReply), as a $cancel would: its worker is told, and its place
// freed. Without that, a call with no deadline whose caller had died ran for as long as
// its handler did, for ever for one that waits.
func (a *Agent) beats(r request) (stop func()) {
	token := strconv.FormatUint(a.beatSeq.Add(1), 36)
	a.mu.Lock()
	a.beating[token] = &beatWatch{reply: r.reply}
	a.mu.Unlock()
	beat := &nats.Msg{Subject: r.reply, Reply: a.beatInbox + "." + token,
		Header: nats.Header{HeaderStatus: []string{statusBeat}, HeaderAgent: []string{a.id}, HeaderHost: []string{a.host}}}
	done := make(chan struct{})
	t := time.AfterFunc(r.beat, func() {
		tick := time.NewTicker(r.beat)
		defer tick.Stop()
		for {
			_ = a.nc.PublishMsg(beat)
			select {
			case <-tick.C:
			case <-done:
				return
			}
		}
	})
	return func() {
		t.Stop()
		close(done)
		a.mu.Lock()
		delete(a.beating, token)
		a.mu.Unlock()
	}
}

// onBeatReply reads what comes back for a beat: only the NATS server's "no responders",
// since callers do not answer beats.
func (a *Agent) onBeatReply(m *nats.Msg) {
	if !isNoResponders(m) || len(m.Subject) <= len(a.beatInbox)+1 {
		return
	}
	token := m.Subject[len(a.beatInbox)+1:]
	a.mu.Lock()
	w := a.beating[token]
	if w == nil {
		a.mu.Unlock()
		return
	}
	w.misses++
	if w.misses < callerGoneBeats {
		a.mu.Unlock()
		return
	}
	delete(a.beating, token)
	cancel := a.running[w.reply]
	a.mu.Unlock()
	if cancel == nil {
		return // answered meanwhile
	}
	a.log.Warn("polyfork: remote: the caller of a call is gone (nobody subscribes to its reply subject): the call is cancelled", "reply", w.reply)
	cancel(nil)
}

// body returns the request's body, from the object store if it travelled there.
func (a *Agent) body(ctx context.Context, r request) ([]byte, error) {
	if r.object == "" {
		return r.data, nil
	}
	b, err := a.objects.get(ctx, r.object)
	if err != nil {
		return nil, fmt.Errorf("reading the body %s from the object store %s: %w", r.object, a.objects.bucket, err)
	}
	return b, nil
}

// runCall runs one call on the pool and answers it.
func (a *Agent) runCall(r request) {
	ctx, end := a.begin(r)
	defer end()
	body, err := a.body(ctx, r)
	if err != nil {
		a.answerError(r.reply, CodeBadRequest, TypeBadRequest, err.Error(), "")
		return
	}
	m, err := protocol.DecodeMessage(body, a.cfg.maxValues)
	if err == nil && m.Kind != protocol.KindRequest {
		err = fmt.Errorf("want a request [0, 0, method, params], got a %s", m.Kind)
	}
	if err != nil {
		a.answerError(r.reply, CodeBadRequest, TypeBadRequest, "the call's body: "+err.Error(), "")
		return
	}
	result := msgpack.RawMessage(make([]byte, 0, 64))
	var w bridge.Worker
	err = a.pool.Load().Call(ctx, m.Method, msgpack.RawMessage(m.Params), &result, bridge.ReportWorker(&w))
	worker := ""
	if w.Name != "" {
		worker = fmt.Sprintf("%s[%d]", w.Name, w.Pid)
	}
	if err != nil && errors.Is(err, context.Canceled) && errors.Is(context.Cause(ctx), errAgentStopped) {
		// Ended by Kill or by the end of Shutdown's drain, not by its caller: saying
		// "cancelled" (499) made the caller's error match context.Canceled, as if its own
		// context had ended, and kept an idempotent call from going to another agent.
		err = errAgentStopped
	}
	if err != nil {
		a.answerFailure(r.reply, m.Method, err, worker)
		return
	}
	answer := make([]byte, 0, len(resultPrefix)+len(result))
	answer = append(append(answer, resultPrefix...), result...)
	if !r.report {
		worker = ""
	}
	a.answer(ctx, r.reply, m.Method, answer, worker)
}

// runNotify hands a message or notification to one worker and acknowledges it.
func (a *Agent) runNotify(r request) {
	ctx, end := a.begin(r)
	defer end()
	body, err := a.body(ctx, r)
	var m protocol.Message
	if err == nil {
		m, err = protocol.DecodeMessage(body, a.cfg.maxValues)
	}
	if err == nil && m.Kind != protocol.KindNotification {
		err = fmt.Errorf("want a notification [2, method, params], got a %s", m.Kind)
	}
	if err == nil && (m.Method == "" || m.Method[0] == '$') {
		err = fmt.Errorf("notification name %q is empty or reserved (names starting with '$' are the protocol's)", m.Method)
	}
	var items [][]byte
	if err == nil {
		items, err = protocol.SplitArray(m.Params)
	}
	if err != nil {
		a.answerError(r.reply, CodeBadRequest, TypeBadRequest, "the notification's body: "+err.Error(), "")
		return
	}
	if err := a.deliver(ctx, m.Method, items); err != nil {
		a.answerFailure(r.reply, m.Method, err, "")
		return
	}
	a.notified.Add(1)
	a.answer(ctx, r.reply, m.Method, append(resultPrefix[:len(resultPrefix):len(resultPrefix)], 0xc0), "")
}

// deliver hands the notification method with raw params to one worker.
func (a *Agent) deliver(ctx context.Context, method string, items [][]byte) error {
	params := make([]any, len(items))
	for i, it := range items {
		params[i] = msgpack.RawMessage(it)
	}
	return a.pool.Load().Notify(ctx, method, params...)
}

// onCancel serves the cancel subject: the caller gave up on the call answering to the
// reply subject in the body.
func (a *Agent) onCancel(m *nats.Msg) {
	if len(m.Data) == 0 || len(m.Data) > maxReplySubject {
		return // names no reply subject
	}
	reply := string(m.Data)
	a.mu.Lock()
	defer a.mu.Unlock()
	if cancel := a.running[reply]; cancel != nil {
		cancel(nil)
		return
	}
	// Not here (yet): the call may be on its way, since the cancel came on another
	// subscription. Remember it for a while, and forget old ones.
	now := time.Now()
	if len(a.cancelled) >= 64 {
		for k, t := range a.cancelled {
			if now.Sub(t) > cancelMemory {
				delete(a.cancelled, k)
			}
		}
		if len(a.cancelled) >= maxCancelsRemembered {
			return
		}
	}
	a.cancelled[reply] = now
}

// answer publishes a successful answer, through the object store if it is too large, and
// naming the worker that ran it if worker is not "".
func (a *Agent) answer(ctx context.Context, reply, method string, body []byte, worker string) {
	a.served.Add(1)
	msg := &nats.Msg{Subject: reply, Data: body}
	if worker != "" {
		msg.Header = nats.Header{HeaderWorker: []string{worker}, HeaderAgent: []string{a.id}, HeaderHost: []string{a.host}}
	}
	if !a.objects.fits(len(body)) {
		name, err := a.objects.put(ctx, body)
		if err != nil {
			pe := &PayloadError{What: "the result of " + protocol.QuoteName(method), Size: int64(len(body)), Limit: a.objects.limit(), Err: err}
			a.answerError(reply, CodeTooLarge, TypeTooLarge, pe.Error(), worker)
			return
		}
		if msg.Header == nil {
			msg.Header = nats.Header{}
		}
		msg.Header[HeaderObject] = []string{name}
		msg.Data = nil
	}
	a.publish(msg, method)
}

// answerFailure answers with the error a pool call failed with; worker is the one that
// ran it, when known.
func (a *Agent) answerFailure(reply, method string, err error, worker string) {
	a.served.Add(1)
	code, typ, named := classify(err)
	if named != "" {
		worker = named
	}
	var re *bridge.RemoteError
	if code == CodeRaised && errors.As(err, &re) {
		a.failed.Add(1)
		a.setLastError(fmt.Sprintf("%q raised %s: %s", method, re.Type, re.Message))
		a.publishError(reply, code, worker, &protocol.ErrorValue{Type: re.Type, Message: re.Message, Traceback: re.Traceback, Data: re.Data})
		return
	}
	if code != CodeCancelled {
		a.log.Warn("polyfork: remote: call failed", "method", method, "code", code, "err", err)
	}
	a.answerError(reply, code, typ, err.Error(), worker)
}

// answerError answers with an error of the agent's own.
func (a *Agent) answerError(reply string, code int, typ, message, worker string) {
	if code != CodeNotRun {
		a.failed.Add(1)
		a.setLastError(typ + ": " + message)
	}
	a.publishError(reply, code, worker, &protocol.ErrorValue{Type: typ, Message: message})
}

func (a *Agent) publishError(reply string, code int, worker string, ev *protocol.ErrorValue) {
	enc := protocol.NewEncoder()
	frame, err := enc.Failure(0, ev)
	if err != nil { // the worker's error data was unusable: keep the rest
		ev = &protocol.ErrorValue{Type: ev.Type, Message: ev.Message, Traceback: ev.Traceback}
		frame, _ = enc.Failure(0, ev)
	}
	if !a.objects.fits(len(frame) - 4) {
		// An error map above the maximum payload (a handler that raised with a huge message
		// or traceback) would not be published at all, and its caller would take the
		// silence for a dead agent: cut it to what fits, and say so.
		ev = fitError(ev, int(a.objects.limit()-headerRoom))
		frame, _ = enc.Failure(0, ev)
	}
	h := nats.Header{
		HeaderErrorCode: []string{strconv.Itoa(code)},
		HeaderError:     []string{clip(firstLine(ev.Type+": "+ev.Message), maxErrorLine)},
		HeaderAgent:     []string{a.id},
		HeaderHost:      []string{a.host},
	}
	if worker != "" {
		h[HeaderWorker] = []string{worker}
	}
	a.publish(&nats.Msg{Subject: reply, Header: h, Data: frame[4:]}, "")
}

func (a *Agent) publish(m *nats.Msg, method string) {
	if err := a.nc.PublishMsg(m); err != nil {
		a.log.Warn("polyfork: remote: an answer was not published", "method", method, "err", err)
	}
}

// classify maps a pool call's error to a code, an error type and the worker it names.
func classify(err error) (code int, typ, worker string) {
	var re *bridge.RemoteError
	var ee *bridge.ExitError
	var pe *bridge.ProtocolError
	switch {
	case errors.As(err, &ee):
		worker = fmt.Sprintf("%s[%d]", ee.Name, ee.Pid)
	case errors.As(err, &pe) && pe.Pid != 0:
		worker = fmt.Sprintf("%s[%d]", pe.Name, pe.Pid)
	}
	switch {
	case errors.Is(err, errAgentStopped):
		return CodeWorkerDied, TypeAgentStopped, worker
	case errors.Is(err, bridge.ErrStopping):
		return CodeNotRun, TypeStopping, worker
	case errors.As(err, &re):
		return CodeRaised, re.Type, worker
	case errors.Is(err, bridge.ErrExecTimeout):
		return CodeTimeout, TypeExecTimeout, worker
	case errors.Is(err, context.DeadlineExceeded):
		return CodeTimeout, TypeTimeout, worker
	case errors.Is(err, context.Canceled):
		return CodeCancelled, TypeCancelled, worker
	case errors.Is(err, bridge.ErrCrashLooping):
		return CodeNotRun, TypeCrashLooping, worker
	case errors.Is(err, bridge.ErrSaturated):
		return CodeNotRun, TypeSaturated, worker
	case errors.Is(err, bridge.ErrUnavailable):
		return CodeNotRun, TypeUnavailable, worker
	case errors.Is(err, bridge.ErrClosed):
		return CodeNotRun, TypeStopping, worker
	case errors.Is(err, bridge.ErrProtocol):
		return CodeWorkerDied, TypeProtocol, worker
	case errors.Is(err, bridge.ErrExited):
		return CodeWorkerDied, TypeWorkerExited, worker
	case errors.Is(err, bridge.ErrUnsendable):
		return CodeBadRequest, TypeBadRequest, worker
	}
	return CodeWorkerDied, "Error", worker
}

// maxErrorLine bounds the one-line descriptions of errors: the HeaderError header (which
// must leave room in headerRoom for the others) and the last error of the stats.
const maxErrorLine = 512

// clip cuts s to at most n bytes, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return protocol.CutText(s, n) + "..."
}

// fitError cuts an error map's data, traceback and message so that it encodes in about
// limit bytes, noting what was cut.
func fitError(ev *protocol.ErrorValue, limit int) *protocol.ErrorValue {
	budget := max(limit-len(ev.Type)-256, 1024)
	out := &protocol.ErrorValue{Type: ev.Type, Message: ev.Message, Traceback: ev.Traceback}
	if len(ev.Data) <= budget/4 {
		out.Data = ev.Data
		budget -= len(ev.Data)
	} else {
		out.Message = fmt.Sprintf("(its data of %d bytes was dropped: above the NATS maximum payload) ", len(ev.Data)) + out.Message
	}
	cut := func(s string, n int) string {
		if len(s) <= n {
			return s
		}
		kept := protocol.CutText(s, n)
		return kept + fmt.Sprintf("... (%d bytes cut: the error was above the NATS maximum payload)", len(s)-len(kept))
	}
	if len(out.Message)+len(out.Traceback) > budget {
		tb := min(len(out.Traceback), budget/2)
		out.Message = cut(out.Message, budget-tb)
		out.Traceback = cut(out.Traceback, max(budget-len(out.Message), 0))
	}
	return out
}

// firstLine keeps a header value on one line.
func firstLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' || s[i] == '\r' {
			return s[:i]
		}
	}
	return s
}
