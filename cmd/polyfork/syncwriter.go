package main

import (
	"io"
	"sync"
)

// syncWriter serializes writes to one writer shared by a command's logger and the
// bridge's relays of its workers' stderr: the bridge locks only its own writes
// (WithStderr), the logger only its own, and stderr may be a buffer (tests) that two
// unsynchronized writers would corrupt. Each record or line is one Write.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func newSyncWriter(w io.Writer) *syncWriter { return &syncWriter{w: w} }

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
