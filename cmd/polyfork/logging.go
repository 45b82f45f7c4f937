package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// newLogger returns serve's logger, writing text or JSON records to w. The same logger is
// meant for the bridge's pool events (see newPool).
func newLogger(format string, w io.Writer) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, fmt.Errorf("-log-format must be text or json, got %q", format)
}

// accessRecord is what the access log says about one request. The middleware creates it;
// the call handler fills in what only it knows.
type accessRecord struct {
	call    bool   // a POST /call/ request
	method  string // the called method
	pid     int    // the worker's pid, when known
	bytesIn int64  // body bytes read
}

type accessKey struct{}

// recordOf returns the request's access record; it is never nil.
func recordOf(r *http.Request) *accessRecord {
	if rec, ok := r.Context().Value(accessKey{}).(*accessRecord); ok {
		return rec
	}
	return &accessRecord{}
}

// statusWriter remembers the status and counts the bytes of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(p)
	s.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logAccess writes one access-log line.
func logAccess(log *slog.Logger, r *http.Request, w *statusWriter, rec *accessRecord, took time.Duration) {
	attrs := []slog.Attr{
		slog.String("http_method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", w.status),
		slog.Duration("duration", took),
		slog.Int64("bytes_in", rec.bytesIn),
		slog.Int64("bytes_out", w.bytes),
		slog.String("remote", r.RemoteAddr),
	}
	if rec.method != "" {
		attrs = append(attrs, slog.String("method", rec.method))
	}
	if rec.pid != 0 {
		attrs = append(attrs, slog.Int("pid", rec.pid))
	}
	log.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
}

// logSinkSize is how many bytes of log a logSink holds for a stderr that is not being
// read before it drops lines.
const logSinkSize = 1 << 20

// logSink is the stderr of the commands that serve (serve, cluster, agent): their own
// records and the workers' relayed lines, written in order by a goroutine of its own, so
// that nothing the host does waits for whoever reads its stderr. A stderr that is not
// read (a log shipper that hangs, a terminal paused with Ctrl-S, a pipe nobody drains)
// used to stop everything that logs: the access log held every request, a worker's
// relayed print held the worker, and SIGTERM never drained, since the drain logs first.
// Past logSinkSize bytes waiting, lines are dropped, and a line says how many once the
// writes go through again. A write that fails (a closed pipe: EPIPE, once SIGPIPE is
// caught, see main) drops its line the same way.
type logSink struct {
	w       io.Writer
	mu      sync.Mutex
	cond    *sync.Cond // wakes run: lines arrived, or close
	queue   [][]byte
	queued  int // bytes in queue, and in the batch being written
	closed  bool
	dropped int // lines dropped since the last notice
	done    chan struct{}
}

func newLogSink(w io.Writer) *logSink {
	s := &logSink{w: w, done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	go s.run()
	return s
}

// Write queues a copy of p, or drops it when logSinkSize bytes already wait. It never
// blocks on the writer, and never fails.
func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queued+len(p) > logSinkSize && s.queued > 0 {
		s.dropped++
		return len(p), nil
	}
	s.queue = append(s.queue, append([]byte(nil), p...))
	s.queued += len(p)
	s.cond.Broadcast()
	return len(p), nil
}

func (s *logSink) run() {
	defer close(s.done)
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		for len(s.queue) == 0 && !s.closed {
			s.cond.Wait()
		}
		if len(s.queue) == 0 {
			return
		}
		lines, n := s.queue, s.queued
		s.queue = nil
		s.mu.Unlock()
		failed := 0
		for _, l := range lines {
			if _, err := s.w.Write(l); err != nil {
				failed++
			}
		}
		s.mu.Lock()
		s.queued -= n
		s.dropped += failed
		if s.dropped > 0 && failed == 0 {
			notice := fmt.Sprintf("polyfork: %d lines of log were dropped: stderr was not being read\n", s.dropped)
			s.dropped = 0
			s.queue = append(s.queue, []byte(notice))
			s.queued += len(notice)
		}
	}
}

// close writes what waits and returns once it is written, or after logFlushTimeout (a
// stderr that is not read: what waits is lost). Lines written after close are dropped.
func (s *logSink) close() {
	s.mu.Lock()
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
	select {
	case <-s.done:
	case <-time.After(logFlushTimeout):
	}
}

// logFlushTimeout bounds how long a serving command waits at exit for its stderr.
const logFlushTimeout = 2 * time.Second
