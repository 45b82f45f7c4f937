package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/protocol"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vmihailenco/msgpack/v5"
)

// gatewayLimits bound what one request may cost.
type gatewayLimits struct {
	maxBody      int64         // bytes of one body
	params       jsonLimits    // depth and value count of one body
	bodyTimeout  time.Duration // from the request's start to the end of its body
	writeTimeout time.Duration // to write an answer once it is ready
}

// gateway is the HTTP face of a backend (a pool, or a NATS service's agents):
// POST /call/{method}, GET /healthz, /workers (or /agents) and /metrics. It is safe for
// concurrent use, as http.Handler requires.
type gateway struct {
	b      backend
	lim    gatewayLimits
	budget *byteBudget // request bodies over smallBody
	// results bounds the large results (over smallResult) held until their client has
	// read them.
	results *byteBudget
	conns   *connTracker
	// garbage counts the bytes of large results let go since the last collection, and
	// collecting is true while one runs (see dropped).
	garbage    atomic.Int64
	collecting atomic.Bool
	collected  atomic.Int64 // when the last collection ended, in Unix nanoseconds
	access     *slog.Logger // nil: no access log
	mux        *http.ServeMux

	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newGateway(b backend, lim gatewayLimits, budget, results *byteBudget, conns *connTracker, access *slog.Logger) *gateway {
	g := &gateway{b: b, lim: lim, budget: budget, results: results, conns: conns, access: access, mux: http.NewServeMux()}
	reg := prometheus.NewRegistry()
	g.calls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "polyfork_calls_total",
		Help: "Calls answered, by HTTP status code.",
	}, []string{"code"})
	g.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "polyfork_call_duration_seconds",
		Help:    "Time from request to answer, body and queueing included, by HTTP status code.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
	}, []string{"code"})
	reg.MustRegister(g.calls, g.duration, gatewayCollector{g},
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	if c := b.collector(); c != nil {
		reg.MustRegister(c)
	}
	g.mux.HandleFunc("POST /call/{method}", g.call)
	g.mux.HandleFunc("POST /call/{$}", g.call) // an empty method name: 400, not 404
	g.mux.HandleFunc("GET /healthz", g.healthz)
	g.mux.HandleFunc("GET "+b.statusRoute(), g.workers)
	g.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	g.mux.HandleFunc("/", g.noRoute)
	return g
}

// noRoute answers what no route takes, in JSON like every other error, naming the routes:
// ServeMux's own answers were "404 page not found" in plain text, also for a method name
// with a '/' in it.
func (g *gateway) noRoute(w http.ResponseWriter, r *http.Request) {
	routes := "POST /call/METHOD, GET /healthz, GET " + g.b.statusRoute() + ", GET /metrics"
	path := r.URL.Path
	call := strings.HasPrefix(path, "/call/")
	// One segment as sent: a '/' written %2F is part of the method name.
	oneSegment := call && !strings.Contains(strings.TrimPrefix(r.URL.EscapedPath(), "/call/"), "/")
	var allow string
	switch {
	case path == "/healthz" || path == "/metrics" || path == g.b.statusRoute():
		allow = http.MethodGet
	case oneSegment:
		allow = http.MethodPost
	}
	if allow != "" && r.Method != allow {
		w.Header().Set("Allow", allow)
		g.refuse(w, r, http.StatusMethodNotAllowed, "MethodNotAllowed", fmt.Sprintf("%s takes %s, not %s", path, allow, r.Method))
		return
	}
	msg := fmt.Sprintf("no route for %s %s (routes: %s)", r.Method, path, routes)
	if call {
		msg = fmt.Sprintf("no route for %s %s: the method name is one path segment, so write a '/' in it as %%2F (routes: %s)", r.Method, path, routes)
	}
	g.refuse(w, r, http.StatusNotFound, "NotFound", msg)
}

// ServeHTTP records the request for the access log and the metrics around the mux.
func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &accessRecord{}
	r = r.WithContext(context.WithValue(r.Context(), accessKey{}, rec))
	sw := &statusWriter{ResponseWriter: w}
	if r.Method == http.MethodPost {
		// No deadline while the call runs (one may be left from the connection's last
		// answer); the call handler sets one when its answer is ready.
		_ = http.NewResponseController(sw).SetWriteDeadline(time.Time{})
	} else {
		g.setWriteDeadline(sw) // quick answers from serve itself
	}
	g.mux.ServeHTTP(sw, r)
	took := time.Since(start)
	if rec.call {
		label := strconv.Itoa(sw.status)
		g.calls.WithLabelValues(label).Inc()
		g.duration.WithLabelValues(label).Observe(took.Seconds())
	}
	if g.access != nil {
		logAccess(g.access, r, sw, rec, took)
	}
}

// setWriteDeadline bounds how long the client may take to read the answer.
func (g *gateway) setWriteDeadline(w http.ResponseWriter) {
	if g.lim.writeTimeout > 0 {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(g.lim.writeTimeout))
	}
}

// call serves POST /call/{method}: a JSON array body in, the JSON result out.
func (g *gateway) call(w http.ResponseWriter, r *http.Request) {
	rec := recordOf(r)
	method := r.PathValue("method")
	rec.call, rec.method = true, method
	if err := checkMethod(method); err != nil {
		g.refuse(w, r, http.StatusBadRequest, "BadMethod", err.Error())
		return
	}
	params, release, ok := g.readParams(w, r, rec)
	if !ok {
		return
	}
	defer release()

	var worker bridge.Worker
	opts := []bridge.CallOption{bridge.ReportWorker(&worker)}
	if r.Header.Get("Idempotency") == "true" || r.Header.Get("X-Polyfork-Idempotent") == "1" {
		opts = append(opts, bridge.Idempotent())
	}
	var raw msgpack.RawMessage
	err := g.b.Call(r.Context(), method, params, &raw, opts...)
	rec.pid = worker.Pid
	if pid := workerPid(err); pid != 0 {
		rec.pid = pid
	}
	if err != nil {
		var cut *cutError
		if errors.As(context.Cause(r.Context()), &cut) && (errors.Is(err, context.Canceled) || errors.Is(err, cut)) {
			w.Header().Set("Connection", "close")
			g.writeError(w, http.StatusServiceUnavailable, "Stopping", cut.Error()+"; it was cancelled", "")
			return
		}
		code, typ := g.b.classify(err)
		var re *bridge.RemoteError
		if errors.As(err, &re) {
			g.writeRemoteError(w, code, re)
			return
		}
		g.writeError(w, code, typ, err.Error(), "")
		return
	}
	if len(raw) > smallResult {
		g.writeLargeResult(w, method, raw)
		return
	}
	v, err := protocol.DecodeValue(raw)
	var out []byte
	if err == nil {
		out, err = toJSON(v)
	}
	if err != nil {
		g.badResult(w, method, err)
		return
	}
	g.beginOK(w)
	_, _ = w.Write(append(out, '\n'))
}

// badResult answers 502: the result of method cannot be written as JSON (err says why).
func (g *gateway) badResult(w http.ResponseWriter, method string, err error) {
	g.writeError(w, http.StatusBadGateway, "BadResult", fmt.Sprintf("the result of %s cannot be written as JSON: %v", method, err), "")
}

// beginOK sends the headers of a JSON answer with status 200; the client then has
// -write-timeout to read it.
func (g *gateway) beginOK(w http.ResponseWriter) {
	g.setWriteDeadline(w)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
}

// smallResult is the largest result, in msgpack bytes, written without taking room in
// -max-result-inflight: encoded whole, then written at once. At most one per connection
// is held, so -max-conns bounds their total, as it does small bodies'.
const smallResult = 64 << 10

// writeLargeResult writes a result over smallResult. It takes the result's size (as the
// worker sent it) in -max-result-inflight until the client has read the answer or
// -write-timeout has passed, and writes the JSON straight from the msgpack as it goes
// (checkMsgpackJSON), so that only those bytes are held meanwhile. With no room, the
// result is dropped and the answer is 503 at once: waiting for room would hold the very
// memory the bound is for.
func (g *gateway) writeLargeResult(w http.ResponseWriter, method string, raw msgpack.RawMessage) {
	weight := int64(len(raw))
	if !g.results.tryAcquire(weight) {
		g.dropped(weight)
		w.Header().Set("Retry-After", "1")
		g.writeError(w, http.StatusServiceUnavailable, "Busy", fmt.Sprintf(
			"%s ran, but its result (%d bytes) was dropped: results still being read by their clients hold %d of the %d bytes allowed (-max-result-inflight)",
			method, weight, g.results.inUse(), g.results.size), "")
		return
	}
	defer g.releaseResult(weight)
	write := func(bw *bufio.Writer) error {
		_, err := writeMsgpackJSON(bw, raw, 0)
		return err
	}
	err := checkMsgpackJSON(raw) // before the status is sent
	if errors.Is(err, errNotStreamable) {
		// The decoded path, which holds the decoded value while the client reads.
		var v any
		if v, err = protocol.DecodeValue(raw); err == nil {
			err = checkJSON(v)
		}
		write = func(bw *bufio.Writer) error { return writeJSON(bw, v) }
	}
	if err != nil {
		g.badResult(w, method, err)
		return
	}
	g.beginOK(w)
	bw := bufio.NewWriterSize(w, 32<<10)
	if err := write(bw); err != nil {
		// Checked above, so this cannot happen; the status is sent: cut the answer short
		// rather than end it as if whole.
		panic(http.ErrAbortHandler)
	}
	_ = bw.WriteByte('\n')
	_ = bw.Flush()
}

// releaseResult gives back a large result's room in -max-result-inflight, once its answer
// is written or has failed.
func (g *gateway) releaseResult(weight int64) {
	g.results.release(weight)
	g.dropped(weight)
}

// collectAfter is how many bytes of large results must have been let go since the last
// collection for the next one to be worth it.
const collectAfter = 16 << 20

// collectEvery is the least time between two of dropped's collections.
const collectEvery = time.Second

// dropped records that a large result (or error) of weight bytes was let go, written or
// refused, and once collectAfter bytes were let go, runs a garbage collection in the
// background, unless one is already running.
//
// A large result leaves several times its size behind as garbage (the frame as it grew,
// its copy). Without allocations to trigger one, the next collection would come only with
// the runtime's forced one, every two minutes, and serve's resident memory would stay that
// high until then, nothing being held. After a collection the runtime's scavenger returns
// the freed pages to the system within seconds. runtime.GC stops the world only briefly
// (serve's own live heap is small), and collectAfter keeps a stream of results just over
// 64 KiB from costing collections each.
func (g *gateway) dropped(weight int64) {
	if g.garbage.Add(weight) >= collectAfter {
		g.collectSoon()
	}
}

// collectSoon starts a collection, unless one is due or running: at once, or collectEvery
// after the last one, however fast large results come (the runtime collects on its own
// under such a load; a forced pair each time would only add to it).
func (g *gateway) collectSoon() {
	if !g.collecting.CompareAndSwap(false, true) {
		return
	}
	g.garbage.Store(0)
	collect := func() {
		// Twice: the scavenger's goal follows the heap goal set by the cycle before.
		// After one collection serve kept 80-190 MB it did not use, for minutes; after
		// two, 20 MB. debug.FreeOSMemory would return it at once, but with the heap locked
		// while it does, stalling every call in flight.
		runtime.GC()
		runtime.GC()
		g.collected.Store(time.Now().UnixNano())
		g.collecting.Store(false)
		if g.garbage.Load() >= collectAfter { // let go while it ran
			g.collectSoon()
		}
	}
	if wait := collectEvery - time.Since(time.Unix(0, g.collected.Load())); wait > 0 {
		time.AfterFunc(wait, collect)
	} else {
		go collect()
	}
}

// writeRemoteError writes the error a worker raised. One whose message and traceback
// together are over smallResult takes their size in -max-result-inflight, as a large result
// does, and is written as it is encoded; with no room, both are cut to errorCut bytes
// with a note saying why, and the status and type are kept.
func (g *gateway) writeRemoteError(w http.ResponseWriter, code int, re *bridge.RemoteError) {
	weight := int64(len(re.Message) + len(re.Traceback))
	if weight <= smallResult {
		g.writeError(w, code, re.Type, re.Message, re.Traceback)
		return
	}
	if !g.results.tryAcquire(weight) {
		g.dropped(weight)
		note := fmt.Sprintf(" [cut to %d bytes: the message and traceback take %d bytes, and results still being read by their clients hold %d of the %d bytes allowed (-max-result-inflight)]",
			errorCut, weight, g.results.inUse(), g.results.size)
		g.writeError(w, code, re.Type, protocol.CutText(re.Message, errorCut)+note, protocol.CutText(re.Traceback, errorCut))
		return
	}
	defer g.releaseResult(weight)
	e := map[string]any{"type": re.Type, "message": re.Message}
	if re.Traceback != "" {
		e["traceback"] = re.Traceback
	}
	g.setWriteDeadline(w)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	bw := bufio.NewWriterSize(w, 32<<10)
	_ = writeJSON(bw, map[string]any{"error": e}) // strings only: it cannot fail
	_ = bw.WriteByte('\n')
	_ = bw.Flush()
}

// errorCut is how much of a large error's message and traceback is kept when there is no
// room to hold them whole.
const errorCut = 4 << 10

// smallBody is the largest body read without waiting for room in the byte budget: one
// declared with Content-Length, or the first bytes of one sent chunked. At most one per
// connection is held, so -max-conns bounds their total (64 MiB with the default cap), and
// small calls keep flowing while large bodies, slow ones included, wait for room.
const smallBody = 64 << 10

// readParams reads the body as the params within the limits. A body declared larger than
// smallBody takes its share of the byte budget first (its declared length); a chunked one
// takes -max-body of it once more than smallBody of it has arrived. Either keeps its share
// until the caller calls release, once the call is answered: the params live that long.
// readParams writes the error answer itself and returns false when the body is refused.
func (g *gateway) readParams(w http.ResponseWriter, r *http.Request, rec *accessRecord) (params msgpack.RawMessage, release func(), ok bool) {
	if r.ContentLength > g.lim.maxBody {
		g.refuse(w, r, http.StatusRequestEntityTooLarge, "BodyTooLarge", g.tooLarge(r.ContentLength))
		return nil, nil, false
	}
	if r.ContentLength == 0 {
		return msgpack.RawMessage{0x90}, func() {}, true // no body: no params
	}
	deadline := time.Now().Add(g.lim.bodyTimeout)
	bodyDone, ok := g.conns.beginBody(connOf(r), deadline)
	if !ok {
		g.refuse(w, r, http.StatusServiceUnavailable, "Draining", "the server is shutting down and takes no new calls")
		return nil, nil, false
	}
	var taken int64 // bytes of the budget this body holds
	release = func() {
		if taken > 0 {
			g.budget.release(taken)
		}
	}
	if weight := r.ContentLength; weight > smallBody {
		if code, typ, msg := g.reserve(w, r, weight, fmt.Sprintf("this one (%d bytes)", weight), deadline); code != 0 {
			g.refuse(w, r, code, typ, msg)
			return nil, nil, false
		}
		taken = weight
	}
	body := &countingReader{r: http.MaxBytesReader(w, r.Body, g.lim.maxBody), n: &rec.bytesIn, atEOF: bodyDone}
	var src io.Reader = body
	var gate *budgetGate
	if r.ContentLength < 0 {
		// Chunked: its size shows only as it arrives. Charging -max-body up front let a few
		// connections sending a byte now and then hold the whole budget, so that every
		// chunked or large body, however small, waited for them.
		gate = &budgetGate{r: body, free: smallBody, take: func() (int, string, string) {
			code, typ, msg := g.reserve(w, r, g.lim.maxBody, fmt.Sprintf(
				"this chunked one, past %d bytes, counts as -max-body (%d bytes)", smallBody, g.lim.maxBody), deadline)
			if code == 0 {
				taken = g.lim.maxBody
			}
			return code, typ, msg
		}}
		src = gate
	}
	params, err := paramsFromJSON(src, g.lim.params)
	if gate != nil && gate.code != 0 {
		release()
		g.refuse(w, r, gate.code, gate.typ, gate.msg)
		return nil, nil, false
	}
	if err != nil {
		release()
		code, typ, msg := g.bodyError(err)
		g.refuse(w, r, code, typ, msg)
		return nil, nil, false
	}
	return params, release, true
}

// budgetGate passes the first free bytes of a body through, then calls take once, before
// reading more; if take refuses (a non-zero code), reads fail and the refusal is kept.
type budgetGate struct {
	r    io.Reader
	free int64
	take func() (code int, typ, msg string)

	n        int64
	taken    bool
	code     int
	typ, msg string
}

// errNoRoom is what budgetGate's reads return once take has refused.
var errNoRoom = errors.New("no room for the body")

func (b *budgetGate) Read(p []byte) (int, error) {
	if b.code != 0 {
		return 0, errNoRoom
	}
	if !b.taken {
		if b.n >= b.free {
			if b.code, b.typ, b.msg = b.take(); b.code != 0 {
				return 0, errNoRoom
			}
			b.taken = true
		} else if rest := b.free - b.n; int64(len(p)) > rest {
			p = p[:rest]
		}
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

// reserve takes weight bytes of the budget, waiting for room until the body's deadline or
// the drain. It returns code 0 when it did, else the answer to give (and sets Retry-After
// for a 503 Busy); what describes the body in that answer.
//
// Waiting rather than answering 503 at once: bodies come in bursts, and a request that
// waits costs a goroutine and a connection (both capped by -max-conns), not memory, since
// its body stays in the kernel's socket buffer until it is read.
func (g *gateway) reserve(w http.ResponseWriter, r *http.Request, weight int64, what string, deadline time.Time) (code int, typ, msg string) {
	wait, cancel := context.WithDeadline(r.Context(), deadline)
	defer cancel()
	stop := context.AfterFunc(g.conns.drained, cancel)
	defer stop()
	if err := g.budget.acquire(wait, weight); err != nil {
		switch {
		case g.conns.isDraining():
			return http.StatusServiceUnavailable, "Draining", "the server is shutting down and takes no new calls"
		case r.Context().Err() != nil:
			return 499, "ClientClosedRequest", "the client went away"
		default:
			w.Header().Set("Retry-After", "1")
			return http.StatusServiceUnavailable, "Busy", fmt.Sprintf(
				"request bodies in flight hold %d of the %d bytes allowed (-max-body-inflight); %s waited %v (-body-timeout)",
				g.budget.inUse(), g.budget.size, what, g.lim.bodyTimeout)
		}
	}
	return 0, "", ""
}

// bodyError maps an error from reading the params to an HTTP answer: 413 past the body
// size, 408 past the body timeout, 503 when a drain cut the body, else 400.
func (g *gateway) bodyError(err error) (code int, typ, msg string) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, "BodyTooLarge", g.tooLarge(-1)
	case errors.Is(err, os.ErrDeadlineExceeded) && g.conns.isDraining():
		return http.StatusServiceUnavailable, "Draining", "the server is shutting down; the body was still arriving"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return http.StatusRequestTimeout, "BodyTimeout", fmt.Sprintf("the body did not arrive within %v (-body-timeout)", g.lim.bodyTimeout)
	}
	return paramsErrorStatus(err), "BadRequest", "the body must be a JSON array of params: " + err.Error()
}

// paramsErrorStatus is the status for an error of paramsFromJSON that is not about time:
// 413 for a body past its size, else 400.
func paramsErrorStatus(err error) int {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

func (g *gateway) tooLarge(declared int64) string {
	what := "the body is larger"
	if declared >= 0 {
		what = fmt.Sprintf("the body (%d bytes) is larger", declared)
	}
	return fmt.Sprintf("%s than the limit of %d bytes set by -max-body", what, g.lim.maxBody)
}

// refuse answers a request whose body is not (or not entirely) read, and closes the
// connection afterwards: what is left of the body is of no use.
func (g *gateway) refuse(w http.ResponseWriter, r *http.Request, code int, typ, message string) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
	g.writeError(w, code, typ, message, "")
}

// writeError writes {"error": {"type", "message", "traceback"}}.
func (g *gateway) writeError(w http.ResponseWriter, code int, typ, message, traceback string) {
	e := map[string]string{"type": typ, "message": message}
	if traceback != "" {
		e["traceback"] = traceback
	}
	g.setWriteDeadline(w)
	writeJSONResponse(w, code, map[string]any{"error": e}, false)
}

// writeJSONResponse writes v as JSON, without escaping <, > and &.
func writeJSONResponse(w http.ResponseWriter, code int, v any, indent bool) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if indent {
		enc.SetIndent("", "  ")
	}
	_ = enc.Encode(v)
}

// classify maps a local pool's error to an HTTP status and an error type.
func classify(err error) (int, string) {
	var re *bridge.RemoteError
	switch {
	case errors.As(err, &re):
		return http.StatusInternalServerError, re.Type
	case errors.Is(err, bridge.ErrUnsendable) && errors.Is(err, protocol.ErrFrameTooLarge):
		return http.StatusRequestEntityTooLarge, "FrameTooLarge"
	case errors.Is(err, bridge.ErrUnsendable):
		return http.StatusBadRequest, "BadParams" // the caller's input; nothing reached a worker
	case errors.Is(err, bridge.ErrExecTimeout), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "Timeout"
	case errors.Is(err, bridge.ErrCrashLooping):
		return http.StatusServiceUnavailable, "CrashLooping"
	case errors.Is(err, bridge.ErrSaturated):
		return http.StatusServiceUnavailable, "Saturated"
	case errors.Is(err, bridge.ErrUnavailable), errors.Is(err, bridge.ErrClosed):
		return http.StatusServiceUnavailable, "Unavailable"
	case errors.Is(err, bridge.ErrExited):
		return http.StatusBadGateway, "WorkerExited"
	case errors.Is(err, bridge.ErrProtocol):
		return http.StatusBadGateway, "ProtocolError"
	case errors.Is(err, context.Canceled):
		return 499, "ClientClosedRequest" // nginx's code: the client went away
	}
	return http.StatusBadGateway, "Error"
}

// workerPid returns the pid of the worker an error names, or 0.
func workerPid(err error) int {
	var ee *bridge.ExitError
	var pe *bridge.ProtocolError
	switch {
	case errors.As(err, &ee):
		return ee.Pid
	case errors.As(err, &pe):
		return pe.Pid
	}
	return 0
}

func (g *gateway) healthz(w http.ResponseWriter, r *http.Request) {
	ok, body := g.b.health(r.Context())
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	writeJSONResponse(w, code, body, false)
}

// workers serves the backend's stats: the pool's workers, or the service's agents.
func (g *gateway) workers(w http.ResponseWriter, r *http.Request) {
	st, err := g.b.status(r.Context())
	if err != nil {
		g.writeError(w, http.StatusServiceUnavailable, "Unavailable", err.Error(), "")
		return
	}
	writeJSONResponse(w, http.StatusOK, st, true)
}

// countingReader counts the bytes read and calls atEOF once, when the reader ends. Like
// the body it reads, it is for one goroutine.
type countingReader struct {
	r     io.Reader
	n     *int64
	atEOF func()
	ended bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	if err == io.EOF && !c.ended {
		c.ended = true
		c.atEOF()
	}
	return n, err
}
