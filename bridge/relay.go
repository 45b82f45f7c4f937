package bridge

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"sync"
)

const (
	tailLines   = 20      // lines of stderr kept for errors
	tailLineMax = 1 << 10 // bytes kept of each of those lines
	lineMax     = 64 << 10
)

// lineRelay copies one of a child's output streams (stderr; stdout too when the channel is
// on descriptors of its own) line by line to a sink, and keeps the last lines for error
// messages. It owns one goroutine, which ends at end of file. Lines of two relays of one
// child share the tail, so errors show them interleaved as they came.
type lineRelay struct {
	name   string
	pid    int
	stream string
	out    io.Writer
	fn     func(LogLine)
	filter func([]byte) []byte // rewrites each line first (a console's control sequences), or nil
	tail   *tail
	done   chan struct{}
	// log reports a sink that panicked (or nil); broken is then true, and later lines go
	// to the tail only.
	log    func(slog.Level, string, ...any)
	broken bool
}

// tail keeps the last lines a child wrote, for errors.
type tail struct {
	mu    sync.Mutex
	lines []string // the last lines, oldest first
}

func newLineRelay(r io.Reader, name string, pid int, stream string, out io.Writer, fn func(LogLine), t *tail, log func(slog.Level, string, ...any)) *lineRelay {
	s := &lineRelay{name: name, pid: pid, stream: stream, out: out, fn: fn, tail: t, done: make(chan struct{}), log: log}
	go s.run(r)
	return s
}

func (s *lineRelay) run(r io.Reader) {
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
func (s *lineRelay) emit(line []byte, buf *bytes.Buffer) {
	if s.filter != nil {
		line = s.filter(line)
	}
	text := string(line)
	s.tail.add(text)
	if s.broken {
		return
	}
	defer func() {
		// A WithLogFunc function or WithStderr writer that panics ended the host: this
		// goroutine is polyfork's, where no caller's recover reaches.
		if v := recover(); v != nil {
			s.broken = true
			if s.log != nil {
				s.log(slog.LevelError, "the sink of the child's output (WithLogFunc or WithStderr) panicked; its later lines are kept for error messages only", "stream", s.stream, "panic", fmt.Sprint(v))
			}
		}
	}()
	switch {
	case s.fn != nil:
		s.fn(LogLine{Name: s.name, Pid: s.pid, Stream: s.stream, Text: text})
	case s.out != nil:
		buf.Reset()
		fmt.Fprintf(buf, "%s[%d] %s\n", s.name, s.pid, line)
		_, _ = s.out.Write(buf.Bytes())
	}
}

func (t *tail) add(text string) {
	if len(text) > tailLineMax {
		text = text[:tailLineMax] + "..."
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == tailLines {
		copy(t.lines, t.lines[1:])
		t.lines = t.lines[:tailLines-1]
	}
	t.lines = append(t.lines, text)
}

// get returns a copy of the last lines.
func (t *tail) get() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.lines...)
}
