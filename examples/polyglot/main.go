// Command polyglot is one Go HTTP service that chains three languages in one request, each
// with a real library: a Python worker computes statistics with numpy, a PHP worker lays
// them out as a Markdown report, and a Node worker turns the Markdown into HTML with marked.
// Each stage is a pool of workers; what the pools do is logged with log/slog, and a stage
// that fails gives an error page naming it.
//
//	python3 -m pip install -r examples/polyglot/requirements.txt   # numpy
//	(cd examples/polyglot && npm ci)                               # marked, as locked
//	go run ./examples/polyglot                                     # http://127.0.0.1:3000/
//	curl 'localhost:3000/report?title=Latency&values=12,15,11,30,14,13'
//	curl 'localhost:3000/stats?values=12,15,11,30,14,13'           # the numpy stage as JSON
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/polyfork/polyfork/bridge"
)

// here is this example's directory: the workers sit beside this file.
func here() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// A stage is one step of the chain: a pool of workers in one language.
type stage struct {
	name string // what the error page and the logs call it
	argv []string
	env  []string
}

// stages returns the three stages, run with the interpreters named by POLYFORK_PYTHON,
// POLYFORK_PHP and POLYFORK_NODE (python3, php and node by default).
func stages() (stats, render, html stage) {
	dir := here()
	root := filepath.Join(dir, "..", "..")
	stats = stage{"stats (Python, numpy)",
		[]string{env("POLYFORK_PYTHON", "python3"), filepath.Join(dir, "stats.py")},
		[]string{"PYTHONPATH=" + filepath.Join(root, "clients", "python", "src")}}
	render = stage{"report (PHP)", []string{env("POLYFORK_PHP", "php"), filepath.Join(dir, "render.php")}, nil}
	html = stage{"markdown (Node, marked)", []string{env("POLYFORK_NODE", "node"), filepath.Join(dir, "markdown.mjs")}, nil}
	return stats, render, html
}

// Stats is the numpy stage's answer. Its json tags are all polyfork needs to fill it from
// the Python dict (and to send it on to PHP as a map with the same keys); the same tags
// make /stats's JSON.
type Stats struct {
	N         int       `json:"n"`
	Mean      float64   `json:"mean"`
	Std       float64   `json:"std"`
	Min       float64   `json:"min"`
	Median    float64   `json:"median"`
	P90       float64   `json:"p90"`
	Max       float64   `json:"max"`
	Histogram Histogram `json:"histogram"`
	Numpy     string    `json:"numpy"` // numpy's version
}

// Histogram has len(Counts)+1 edges: Counts[i] values fell in [Edges[i], Edges[i+1]).
type Histogram struct {
	Counts []int     `json:"counts"`
	Edges  []float64 `json:"edges"`
}

// options configure a service.
type options struct {
	workers int          // per stage
	logger  *slog.Logger // the pools' events and the access log
	stderr  io.Writer    // the workers' stderr, line by line
}

// service is the chain: one pool per stage.
type service struct {
	stats, render, html *bridge.Pool
	names               map[*bridge.Pool]string
	log                 *slog.Logger
}

// newService starts the three pools; if one cannot start, the others are stopped and the
// error says which stage failed.
func newService(ctx context.Context, o options) (*service, error) {
	s := &service{names: map[*bridge.Pool]string{}, log: o.logger}
	var started []*bridge.Pool
	st, rd, ht := stages()
	for _, spec := range []struct {
		stage
		pool **bridge.Pool
	}{{st, &s.stats}, {rd, &s.render}, {ht, &s.html}} {
		pool, err := bridge.NewPool(ctx, spec.argv,
			bridge.WithWorkers(o.workers),
			bridge.WithEnv(spec.env...),
			bridge.WithExecTimeout(10*time.Second), // a stuck call ends only its worker
			bridge.WithMaxJobs(10000),              // then a fresh worker takes over
			bridge.WithLogger(o.logger.With("stage", spec.name)),
			bridge.WithStderr(o.stderr))
		if err != nil {
			for _, p := range started {
				p.Kill()
			}
			return nil, fmt.Errorf("starting the %s stage: %w", spec.name, err)
		}
		started = append(started, pool)
		*spec.pool = pool
		s.names[pool] = spec.name
	}
	return s, nil
}

// Shutdown drains the three pools.
func (s *service) Shutdown(ctx context.Context) error {
	return errors.Join(s.stats.Shutdown(ctx), s.render.Shutdown(ctx), s.html.Shutdown(ctx))
}

// Kill stops every worker at once.
func (s *service) Kill() {
	s.stats.Kill()
	s.render.Kill()
	s.html.Kill()
}

// A stageError is a stage's failure, for the error page.
type stageError struct {
	stage string
	err   error
}

func (e *stageError) Error() string { return e.stage + ": " + e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

// call calls method on a stage's pool. Every stage is a pure function of its input, so a
// call whose worker dies under it may be retried on another (Idempotent).
func (s *service) call(ctx context.Context, pool *bridge.Pool, method string, params []any, result any) error {
	if err := pool.Call(ctx, method, params, result, bridge.Idempotent()); err != nil {
		return &stageError{stage: s.names[pool], err: err}
	}
	return nil
}

// describe runs the numpy stage.
func (s *service) describe(ctx context.Context, values []float64) (Stats, error) {
	var st Stats
	err := s.call(ctx, s.stats, "describe", []any{values}, &st)
	return st, err
}

// report runs the whole chain: numpy, then PHP, then marked.
func (s *service) report(ctx context.Context, title string, values []float64) (Stats, string, error) {
	st, err := s.describe(ctx, values)
	if err != nil {
		return st, "", err
	}
	var markdown, html string
	if err := s.call(ctx, s.render, "render", []any{title, st}, &markdown); err != nil {
		return st, "", err
	}
	if err := s.call(ctx, s.html, "html", []any{markdown}, &html); err != nil {
		return st, "", err
	}
	return st, html, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "address to listen on")
	workers := flag.Int("workers", 2, "workers per stage")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := newService(ctx, options{workers: *workers, logger: logger, stderr: os.Stderr})
	if err != nil {
		logger.Error("polyglot: cannot start", "err", err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		s.Kill()
		logger.Error("polyglot: cannot listen", "err", err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	logger.Info("polyglot: listening", "url", "http://"+ln.Addr().String()+"/")
	<-ctx.Done()

	drain, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(drain); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("polyglot: stopping the server", "err", err)
	}
	if err := s.Shutdown(drain); err != nil {
		logger.Warn("polyglot: stopping the workers", "err", err)
	}
}
