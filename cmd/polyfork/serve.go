package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/protocol"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vmihailenco/msgpack/v5"
)

// serveFlags are the options of polyfork serve.
type serveFlags struct {
	addr         string
	workers      int
	concurrency  int
	queue        int
	timeout      time.Duration
	maxJobs      int
	maxLifetime  time.Duration
	maxIdle      time.Duration
	maxRSS       byteSize
	startTimeout time.Duration
	drain        time.Duration
}

func runServe(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("polyfork serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f serveFlags
	fs.StringVar(&f.addr, "addr", "127.0.0.1:3000", "address to listen on")
	fs.IntVar(&f.workers, "workers", runtime.NumCPU(), "number of workers")
	fs.IntVar(&f.concurrency, "concurrency", 1, "calls one worker takes at once (raise it for async workers)")
	fs.IntVar(&f.queue, "queue", 1024, "calls that may wait for a free worker; past it: 503")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "longest a call may run; past it the worker is replaced and the answer is 504 (0: no limit)")
	fs.IntVar(&f.maxJobs, "max-jobs", 0, "recycle a worker after about this many calls (0: no limit)")
	fs.DurationVar(&f.maxLifetime, "max-lifetime", 0, "recycle a worker after about this long (0: no limit)")
	fs.DurationVar(&f.maxIdle, "max-idle", 0, "recycle a worker idle this long (0: no limit)")
	fs.Var(&f.maxRSS, "max-rss", "recycle a worker whose resident memory exceeds this, e.g. 512MiB (0: no limit)")
	fs.DurationVar(&f.startTimeout, "start-timeout", 10*time.Second, "longest a worker may take to become ready")
	fs.DurationVar(&f.drain, "drain", 30*time.Second, "on SIGTERM or SIGINT, how long calls in flight may take to finish")
	before, command, ok := splitCommand(args)
	if err := fs.Parse(before); err != nil {
		return exitUsage
	}
	if !ok || fs.NArg() != 0 {
		fmt.Fprintf(stderr, "polyfork serve: want [flags] -- COMMAND [ARG...]\n\n%s", usage)
		return exitUsage
	}
	if f.timeout < 0 || f.drain <= 0 || f.startTimeout <= 0 {
		fmt.Fprintf(stderr, "polyfork serve: -timeout must not be negative, -drain and -start-timeout must be positive\n")
		return exitUsage
	}

	opts := []bridge.Option{
		bridge.WithWorkers(f.workers), bridge.WithConcurrency(f.concurrency), bridge.WithQueueSize(f.queue),
		bridge.WithExecTimeout(f.timeout), bridge.WithMaxJobs(f.maxJobs), bridge.WithMaxLifetime(f.maxLifetime),
		bridge.WithMaxIdle(f.maxIdle), bridge.WithMaxRSS(int64(f.maxRSS)),
		bridge.WithStderr(stderr), bridge.WithStartTimeout(f.startTimeout),
	}
	pool, err := bridge.NewPool(ctx, command, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "polyfork serve: %v\n", err)
		if errors.Is(err, bridge.ErrInvalidOption) {
			return exitUsage
		}
		return exitFailure
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		fmt.Fprintf(stderr, "polyfork serve: %v\n", err)
		pool.Kill()
		return exitFailure
	}
	srv := &http.Server{Handler: newService(pool), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stderr, "polyfork serve: listening on http://%s with %d workers of %q\n", ln.Addr(), f.workers, command)

	code := exitOK
	select {
	case <-ctx.Done():
		fmt.Fprintf(stderr, "polyfork serve: draining (up to %v)\n", f.drain)
	case err := <-served:
		fmt.Fprintf(stderr, "polyfork serve: %v\n", err)
		code = exitFailure
	}
	drainCtx, cancel := context.WithTimeout(context.Background(), f.drain)
	defer cancel()
	if err := srv.Shutdown(drainCtx); err != nil {
		fmt.Fprintf(stderr, "polyfork serve: %v\n", err)
		code = exitFailure
	}
	if err := pool.Shutdown(drainCtx); err != nil {
		fmt.Fprintf(stderr, "polyfork serve: %v\n", err)
		code = exitFailure
	}
	return code
}

// service is the HTTP face of a pool.
type service struct {
	pool     *bridge.Pool
	mux      *http.ServeMux
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newService(pool *bridge.Pool) *service {
	s := &service{pool: pool, mux: http.NewServeMux()}
	s.calls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "polyfork_calls_total",
		Help: "Calls answered, by HTTP status code.",
	}, []string{"code"})
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "polyfork_call_duration_seconds",
		Help:    "Time from request to answer, queueing included, by HTTP status code.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
	}, []string{"code"})
	s.mux.HandleFunc("POST /call/{method}", s.call)
	handlePoolViews(s.mux, pool, s.calls, s.duration) // poolhttp.go
	return s
}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// call serves POST /call/{method}: a JSON array body in, the JSON result out.
func (s *service) call(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code := s.answer(w, r)
	label := strconv.Itoa(code)
	s.calls.WithLabelValues(label).Inc()
	s.duration.WithLabelValues(label).Observe(time.Since(start).Seconds())
}

func (s *service) answer(w http.ResponseWriter, r *http.Request) int {
	method := r.PathValue("method")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, protocol.DefaultMaxFrameSize))
	if err != nil {
		return writeError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("reading the body: %v", err), "")
	}
	params := []any{}
	if len(strings.TrimSpace(string(body))) > 0 {
		v, err := parseJSON(body)
		if err != nil {
			return writeError(w, http.StatusBadRequest, "BadRequest", "the body must be a JSON array of params: "+err.Error(), "")
		}
		list, ok := v.([]any)
		if !ok {
			return writeError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("the body must be a JSON array of params, such as [1, 2]; got %q", clip(string(body))), "")
		}
		params = list
	}
	var opts []bridge.CallOption
	if r.Header.Get("Idempotency") == "true" || r.Header.Get("X-Polyfork-Idempotent") == "1" {
		opts = append(opts, bridge.Idempotent())
	}
	var raw msgpack.RawMessage
	err = s.pool.Call(r.Context(), method, params, &raw, opts...)
	if err != nil {
		code, typ := classify(err)
		var re *bridge.RemoteError
		if errors.As(err, &re) {
			return writeError(w, code, re.Type, re.Message, re.Traceback)
		}
		return writeError(w, code, typ, err.Error(), "")
	}
	v, err := protocol.DecodeValue(raw)
	var out []byte
	if err == nil {
		out, err = toJSON(v)
	}
	if err != nil {
		return writeError(w, http.StatusBadGateway, "BadResult", fmt.Sprintf("the result of %s cannot be written as JSON: %v", method, err), "")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(append(out, '\n'))
	return http.StatusOK
}

// classify maps a pool error to an HTTP status and an error type.
func classify(err error) (int, string) {
	var re *bridge.RemoteError
	switch {
	case errors.As(err, &re):
		return http.StatusInternalServerError, re.Type
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

func writeError(w http.ResponseWriter, code int, typ, message, traceback string) int {
	e := map[string]string{"type": typ, "message": message}
	if traceback != "" {
		e["traceback"] = traceback
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
	return code
}

// byteSize is a flag value such as 512MiB, 1GB or 1048576.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a size such as 512MiB, 2GB or 1048576", s)
	}
	*b = byteSize(n * mult)
	return nil
}
