package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/polyfork/polyfork/bridge"
)

// maxValues bounds one request's numbers.
const maxValues = 100_000

// handler serves the form (/), the report (/report), the numpy stage alone as JSON (/stats)
// and the workers of each stage (/workers), with an access log.
func (s *service) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		formPage.Execute(w, nil)
	})
	mux.HandleFunc("GET /report", func(w http.ResponseWriter, r *http.Request) {
		title, values, err := parseQuery(r)
		if err != nil {
			s.fail(w, &stageError{stage: "input", err: err})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		st, body, err := s.report(ctx, title, values)
		if err != nil {
			s.fail(w, err)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// body is marked's HTML of a report whose user text PHP escaped for Markdown.
		reportPage.Execute(w, map[string]any{"Title": title, "Body": template.HTML(body), "Stats": st})
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		_, values, err := parseQuery(r)
		if err != nil {
			s.fail(w, &stageError{stage: "input", err: err})
			return
		}
		st, err := s.describe(r.Context(), values)
		if err != nil {
			s.fail(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st)
	})
	mux.HandleFunc("GET /workers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]bridge.PoolStats{
			s.names[s.stats]: s.stats.Stats(), s.names[s.render]: s.render.Stats(), s.names[s.html]: s.html.Stats()})
	})
	return s.accessLog(mux)
}

// parseQuery reads ?title=...&values=1,2,3 (commas or spaces between the numbers).
func parseQuery(r *http.Request) (string, []float64, error) {
	q := r.URL.Query()
	title := strings.TrimSpace(q.Get("title"))
	if title == "" {
		title = "Report"
	}
	if len(title) > 200 {
		return "", nil, fmt.Errorf("the title has %d bytes; at most 200, please", len(title))
	}
	fields := strings.FieldsFunc(q.Get("values"), func(r rune) bool { return r == ',' || r == ' ' })
	if len(fields) == 0 {
		return "", nil, errors.New("no values: give some numbers, such as ?values=12,15,11,30")
	}
	if len(fields) > maxValues {
		return "", nil, fmt.Errorf("%d values; at most %d, please", len(fields), maxValues)
	}
	values := make([]float64, len(fields))
	for i, f := range fields {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return "", nil, fmt.Errorf("value %d, %q, is not a number", i+1, f)
		}
		values[i] = v
	}
	return title, values, nil
}

// failure is what the error page shows.
type failure struct {
	Heading   string // "The stats (Python, numpy) stage failed", or "Bad input"
	Status    int
	Stage     string
	Type      string // the exception's class, or what happened to the worker
	Message   string
	Traceback string
	Stderr    []string // a worker's last stderr lines, when it exited
}

// explain turns a stage's error into what a user can act on, and its HTTP status: 400 for
// bad input, 500 when the stage's code raised, 502 when its worker died or broke the
// protocol, 503 when the stage is overloaded or cannot start workers, 504 on a timeout.
func explain(err error) failure {
	f := failure{Status: http.StatusBadGateway, Stage: "?", Type: "error", Message: err.Error()}
	var se *stageError
	if errors.As(err, &se) {
		f.Stage, f.Message = se.stage, se.err.Error()
	}
	var re *bridge.RemoteError
	var ee *bridge.ExitError
	var pe *bridge.ProtocolError
	switch {
	case f.Stage == "input":
		f.Status, f.Type = http.StatusBadRequest, "bad input"
	case errors.As(err, &re):
		f.Status, f.Type, f.Message, f.Traceback = http.StatusInternalServerError, re.Type, re.Message, re.Traceback
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, bridge.ErrExecTimeout):
		f.Status, f.Type = http.StatusGatewayTimeout, "timeout"
	case errors.Is(err, bridge.ErrSaturated), errors.Is(err, bridge.ErrUnavailable):
		f.Status, f.Type = http.StatusServiceUnavailable, "unavailable"
	case errors.As(err, &ee):
		f.Type, f.Stderr = "worker exited", ee.Stderr
	case errors.As(err, &pe):
		f.Type = "protocol error"
	}
	f.Heading = "The " + f.Stage + " stage failed"
	if f.Status == http.StatusBadRequest {
		f.Heading = "Bad input"
	}
	return f
}

// fail answers with the error page and logs the failure.
func (s *service) fail(w http.ResponseWriter, err error) {
	f := explain(err)
	level := slog.LevelWarn
	if f.Status == http.StatusBadRequest {
		level = slog.LevelInfo
	}
	s.log.Log(context.Background(), level, "polyglot: stage failed", "stage", f.Stage, "status", f.Status, "err", err)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(f.Status)
	errorPage.Execute(w, f)
}

// statusWriter remembers the status a handler wrote, for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (s *service) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		s.log.Info("polyglot: request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"elapsed", time.Since(start).Round(time.Microsecond))
	})
}

const style = `<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44em;margin:2em auto;padding:0 1em}
table{border-collapse:collapse}td,th{padding:.2em .8em;border-bottom:1px solid #ddd}
pre{background:#f6f6f6;padding:1em;overflow:auto}.error{border-left:4px solid #c00;padding-left:1em}</style>`

var formPage = template.Must(template.New("form").Parse(`<!doctype html>
<meta charset="utf-8"><title>polyglot</title>` + style + `
<h1>Go, Python, PHP and Node in one request</h1>
<p>numpy computes the statistics, PHP lays out the report, marked turns it into HTML.</p>
<form action="/report">
<p><label>Title <input name="title" value="Latency (ms)"></label></p>
<p><label>Values <input name="values" size="40" value="12, 15, 11, 30, 14, 13, 12, 16"></label></p>
<p><button>Report</button></p>
</form>
`))

var reportPage = template.Must(template.New("report").Parse(`<!doctype html>
<meta charset="utf-8"><title>{{.Title}}</title>` + style + `
{{.Body}}
<p><small>Go decoded the statistics into its own struct: n={{.Stats.N}}, mean={{printf "%.4g" .Stats.Mean}}.
<a href="/">Another report</a></small></p>
`))

var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<meta charset="utf-8"><title>{{.Status}}: {{.Heading}}</title>` + style + `
<div class="error">
<h1>{{.Heading}}</h1>
<p><strong>{{.Type}}</strong>: {{.Message}}</p>
{{with .Traceback}}<h2>Traceback</h2><pre>{{.}}</pre>{{end}}
{{with .Stderr}}<h2>The worker's last lines on stderr</h2><pre>{{range .}}{{.}}
{{end}}</pre>{{end}}
<p>HTTP {{.Status}}. <a href="/">Back</a></p>
</div>
`))
