package bridge

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sync"
)

const (
	tailLines   = 20      // lines of stderr kept for errors
	tailLineMax = 1 << 10 // bytes kept of each of those lines
	lineMax     = 64 << 10
)

// stderrRelay copies a child's stderr line by line to a sink and keeps the last lines for
// error messages. It owns one goroutine, which ends at end of file.
type stderrRelay struct {
	name string
	pid  int
	out  io.Writer
	fn   func(LogLine)
	done chan struct{}

	mu   sync.Mutex
	tail []string // ring of the last lines, oldest first
}

func newStderrRelay(r io.Reader, name string, pid int, cfg *config) *stderrRelay {
	s := &stderrRelay{name: name, pid: pid, out: cfg.stderr, fn: cfg.logFunc, done: make(chan struct{})}
	go s.run(r)
	return s
}

func (s *stderrRelay) run(r io.Reader) {
	defer close(s.done)
	br := bufio.NewReaderSize(r, lineMax)
	var buf bytes.Buffer
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			line = bytes.TrimSuffix(line, []byte("\n"))
			line = bytes.TrimSuffix(line, []byte("\r"))
			s.emit(line, &buf)
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

// emit relays one line and remembers it.
func (s *stderrRelay) emit(line []byte, buf *bytes.Buffer) {
	text := string(line)
	s.mu.Lock()
	kept := text
	if len(kept) > tailLineMax {
		kept = kept[:tailLineMax] + "..."
	}
	if len(s.tail) == tailLines {
		copy(s.tail, s.tail[1:])
		s.tail = s.tail[:tailLines-1]
	}
	s.tail = append(s.tail, kept)
	s.mu.Unlock()
	switch {
	case s.fn != nil:
		s.fn(LogLine{Name: s.name, Pid: s.pid, Text: text})
	case s.out != nil:
		buf.Reset()
		fmt.Fprintf(buf, "%s[%d] %s\n", s.name, s.pid, line)
		_, _ = s.out.Write(buf.Bytes())
	}
}

// lines returns a copy of the last lines.
func (s *stderrRelay) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tail...)
}
