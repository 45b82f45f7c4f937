package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
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
