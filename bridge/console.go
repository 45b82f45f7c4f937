package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"
)

// ConsoleOptions configures the terminal WithConsole gives a child.
type ConsoleOptions struct {
	// Cols and Rows are the terminal's window size, 80 columns and 24 rows by default.
	// Console.Resize changes it while the child runs.
	Cols, Rows int
	// KeepControls relays the terminal's lines as the child wrote them, escape sequences
	// (colours, cursor movement) and carriage returns included. By default they are
	// removed, carriage returns and backspaces applied as a terminal would: a progress bar
	// redrawn in place is relayed as its last state.
	KeepControls bool
	// OnStart, if not nil, is called with the child's Console as soon as the child runs,
	// before its $ready, so that a debugger stopped in start-up code can be reached. It
	// runs on the goroutine that starts the child (Start's caller, or a Pool's worker
	// slot) and should return quickly: attach from a goroutine of your own. If it
	// panics, the start fails with an error that gives the panic's value.
	OnStart func(*Console)
}

const (
	defaultCols = 80
	defaultRows = 24
	recentMax   = 4 << 10 // bytes of output replayed to a terminal that attaches
)

// WithConsole gives the child a pseudo-terminal as its stdin, stdout and stderr, so that
// it sees a terminal (isatty is true: line-buffered output, colours, progress bars, and
// debuggers such as pdb, node inspect or PHP's readline have a terminal to talk to). The
// frames travel on descriptors of their own (ChannelFDs), whatever WithChannel says.
//
// The terminal's output is relayed line by line like stderr, with LogLine.Stream
// "console", to the sink of WithStdout if it was given, else to that of WithStderr; the
// last lines also go into errors. Process.Console (or OnStart, for a Pool's workers) gives
// the Console, to which a terminal can be attached.
//
// The child runs in a session of its own whose controlling terminal is the console, so a
// Ctrl-C typed into an attached terminal interrupts it; it is still ended with its whole
// process group. Consoles need a Unix system (creack/pty): on Windows the option is
// invalid.
func WithConsole(o ConsoleOptions) Option {
	return func(c *config) {
		c.use("WithConsole", scopeProcess)
		if !consoleSupported {
			c.fail("WithConsole", "pseudo-terminals need a Unix system")
			return
		}
		if o.Cols == 0 {
			o.Cols = defaultCols
		}
		if o.Rows == 0 {
			o.Rows = defaultRows
		}
		if o.Cols < 1 || o.Cols > 0xffff || o.Rows < 1 || o.Rows > 0xffff {
			c.fail("WithConsole", "window size %dx%d is outside 1x1 .. 65535x65535", o.Cols, o.Rows)
			return
		}
		c.proc.console = &o
	}
}

// ErrAttached is returned by Console.Attach while another terminal is attached.
var ErrAttached = errors.New("bridge: a terminal is already attached to this console")

// Console is a child's pseudo-terminal (WithConsole), seen from the host. Its output is
// relayed as log lines for as long as the child runs; a terminal can be attached to it,
// one at a time, to see that output as it comes and type into it.
//
// A Console owns no goroutine of its own: its output is read by the Process's relay, and
// Attach runs on its caller's goroutine plus one reading the attached input and one
// typing it into the terminal. Every method is safe for concurrent use.
type Console struct {
	name   string
	pid    int
	master *os.File
	tty    *os.File                         // the child's end, to flush its input on a signal key; closed at reap
	done   chan struct{}                    // closed when the output has ended: the relay's done
	log    func(slog.Level, string, ...any) // the Process's logger

	mu     sync.Mutex
	att    *attachment // the attached terminal, or nil
	recent []byte      // the last output, for a terminal that attaches
}

// attachment is one attached terminal.
type attachment struct {
	out     io.Writer
	failed  chan error // receives the first error writing to out
	stopped bool       // detached: input read after this is dropped (under Console.mu)

	wake    chan struct{} // tells typeInput that the queue grew or that it is to stop
	qmu     sync.Mutex
	queue   []byte // typed input on its way to the terminal
	full    bool   // typeInput waits for room in the terminal
	quit    bool   // typeInput is to stop
	dropped int    // bytes of typed input dropped for a full terminal

	typist  *os.File      // typeInput's descriptor: its deadline abandons a blocked write
	flushed chan struct{} // set by a signal key: typeInput drops its chunk, then closes it
}

// Name returns the child's name (WithName; "NAME#i" for a Pool's workers).
func (c *Console) Name() string { return c.name }

// Pid returns the child's process id.
func (c *Console) Pid() int { return c.pid }

// Done is closed when the terminal's output has ended: the child and every process that
// shared its terminal have exited, or the Process released it.
func (c *Console) Done() <-chan struct{} { return c.done }

// Write types p into the child's terminal, as if from a keyboard (the terminal echoes it
// and turns a Ctrl-C byte into SIGINT for the child, unless the child changed its modes).
func (c *Console) Write(p []byte) (int, error) {
	select {
	case <-c.done:
		return 0, fmt.Errorf("bridge: typing into the console of %s (pid %d): %w", c.name, c.pid, os.ErrClosed)
	default:
	}
	n, err := c.master.Write(p)
	if err != nil {
		err = fmt.Errorf("bridge: typing into the console of %s (pid %d): %w", c.name, c.pid, err)
	}
	return n, err
}

// Resize sets the terminal's window size; the child gets SIGWINCH.
func (c *Console) Resize(cols, rows int) error {
	if cols < 1 || cols > 0xffff || rows < 1 || rows > 0xffff {
		return fmt.Errorf("bridge: window size %dx%d is outside 1x1 .. 65535x65535", cols, rows)
	}
	if err := setWinsize(c.master, cols, rows); err != nil {
		return fmt.Errorf("bridge: resizing the console of %s (pid %d): %w", c.name, c.pid, err)
	}
	return nil
}

// Attach connects a terminal to the console: the last output (up to 4 KiB, from a line
// start) is written to out, then everything the child's terminal shows as it comes, and
// what is read from in is typed into it. The log relay goes on meanwhile.
//
// Attach returns when ctx ends (ctx's error), when in reaches end of file (nil) or fails,
// when a write to out fails, or when the console closes (nil). While out's Write blocks,
// the child's output waits: a terminal across a network should have a write deadline. If
// in has a SetReadDeadline method (a net.Conn, a pipe or terminal opened by os), Attach
// interrupts the read in progress with it before returning (in's deadline is then in
// the past); otherwise the goroutine reading in ends only when that Read returns, and
// drops what it read. Only one terminal is attached at a time: ErrAttached otherwise.
//
// in is read for as long as the terminal is attached, whether or not the child reads its
// terminal, so that end of file, an error and ctx are seen at once. Typed input waits in
// the terminal's buffer until the child reads it; once that buffer is full, up to 64 KiB
// more waits in a queue, and input beyond it is dropped (the Process's logger says so,
// once per attachment). At end of file, what the terminal takes without waiting is
// typed and the rest is dropped. While the terminal is full, an interrupt, quit or
// suspend character (Ctrl-C, Ctrl-\, Ctrl-Z, as the terminal's modes say) is still
// delivered: the child's foreground process group gets the signal, and the input typed
// before it is dropped, as the terminal itself flushes its input on an interrupt (unless
// its modes say NOFLSH).
func (c *Console) Attach(ctx context.Context, in io.Reader, out io.Writer) error {
	if ctx == nil {
		return errNilContext
	}
	// A nil out panicked with the console's lock held, so every later Attach (and the relay
	// of the child's output) waited for ever; a nil in panicked on a goroutine of its own.
	if in == nil || out == nil {
		return fmt.Errorf("bridge: attaching to the console of %s (pid %d): the terminal's input or output is nil", c.name, c.pid)
	}
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return nil
	default:
	}
	if c.att != nil {
		c.mu.Unlock()
		return ErrAttached
	}
	// Typing goes through a descriptor of its own, so that a write blocked on a full
	// terminal can be abandoned (its deadline) without touching the master's, which
	// Write and the relay share.
	typist, err := dupNonblock(c.master)
	if err != nil {
		c.mu.Unlock()
		return fmt.Errorf("bridge: attaching to the console of %s (pid %d): %w", c.name, c.pid, err)
	}
	defer typist.Close()
	a := &attachment{out: out, failed: make(chan error, 1), wake: make(chan struct{}, 1), typist: typist}
	if replay := fromLineStart(c.recent); len(replay) > 0 {
		if _, err := out.Write(replay); err != nil {
			c.mu.Unlock()
			return err
		}
	}
	c.att = a
	c.mu.Unlock()

	input := make(chan error, 1)
	go func() { input <- c.readInput(in, a) }()
	typed := make(chan typed, 1)
	go func() { typed <- c.typeInput(a) }()
	inputDone, writerDone := false, false
	var rest []byte // what the typist had taken but not written when it stopped
	select {
	case <-ctx.Done():
		err = ctx.Err()
	case err = <-input:
		inputDone = true
	case err = <-a.failed:
	case t := <-typed:
		writerDone, err = true, t.err
	case <-c.done:
	}
	c.mu.Lock()
	a.stopped = true
	if c.att == a {
		c.att = nil
	}
	c.mu.Unlock()
	if !writerDone {
		a.qmu.Lock()
		a.quit = true
		a.qmu.Unlock()
		a.poke()
		_ = typist.SetWriteDeadline(time.Unix(1, 0)) // abandons a write blocked on a full terminal
		rest = (<-typed).rest
	}
	if inputDone && err == nil {
		// End of input: what is still queued is typed if the terminal has room now.
		a.qmu.Lock()
		rest = append(rest, a.queue...)
		a.queue = nil
		a.qmu.Unlock()
		if n := writeNow(typist, rest); n < len(rest) {
			a.drop(c, len(rest)-n)
		}
	}
	if d, ok := in.(interface{ SetReadDeadline(time.Time) error }); ok && !inputDone {
		if d.SetReadDeadline(time.Unix(1, 0)) == nil {
			<-input
		}
	}
	return err
}

// inputQueueMax is how much typed input waits for a full terminal before more is dropped.
const inputQueueMax = 64 << 10

// typed is what typeInput ends with: the input it had taken but not written, and why it
// stopped (nil when told to).
type typed struct {
	rest []byte
	err  error
}

// readInput reads in until it ends or the attachment stops, and queues what it reads for
// typeInput. It never waits for the terminal.
func (c *Console) readInput(in io.Reader, a *attachment) error {
	buf := make([]byte, 4<<10)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			c.mu.Lock()
			stopped := a.stopped
			c.mu.Unlock()
			if stopped {
				return nil
			}
			c.queueInput(a, buf[:n])
		}
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
}

// queueInput queues p for the terminal, up to inputQueueMax; while the terminal is backed
// up, a signal character in p is delivered at once, and the input before it dropped (see
// Attach).
func (c *Console) queueInput(a *attachment, p []byte) {
	a.qmu.Lock()
	// A signal key is delivered at once while the terminal is full, and whenever the queue
	// has no room for it (the typist may not have blocked yet): it is never dropped.
	for a.full || len(a.queue)+len(p) > inputQueueMax {
		sig, i := terminalSignal(c.master, p)
		if sig == 0 {
			break
		}
		// Drop what waits here and the chunk the typist is blocked on, then what the
		// terminal holds, and only then signal: the child's handler finds no stale input.
		a.queue = a.queue[:0]
		if a.full {
			flushed := make(chan struct{})
			a.flushed = flushed
			_ = a.typist.SetWriteDeadline(time.Unix(1, 0)) // under qmu: before typeInput clears it
			a.qmu.Unlock()
			<-flushed
		} else {
			a.qmu.Unlock()
		}
		flushTerminalInput(c.tty)
		_ = sendTerminalSignal(c.master, sig)
		p = p[i+1:]
		a.qmu.Lock()
	}
	dropped := 0
	if room := inputQueueMax - len(a.queue); len(p) > room {
		dropped, p = len(p)-room, p[:room]
	}
	if len(p) > 0 {
		a.queue = append(a.queue, p...)
	}
	a.qmu.Unlock()
	a.poke()
	if dropped > 0 {
		a.drop(c, dropped)
	}
}

// typeInput writes the queued input to the terminal through a.typist until told to stop
// or a write fails.
func (c *Console) typeInput(a *attachment) typed {
	typist := a.typist
	defer func() { // a signal key waits for this while typeInput is stopping
		a.qmu.Lock()
		if a.flushed != nil {
			close(a.flushed)
			a.flushed = nil
		}
		a.qmu.Unlock()
	}()
	var chunk []byte
	for {
		a.qmu.Lock()
		quit := a.quit
		if len(chunk) == 0 && len(a.queue) > 0 {
			n := min(len(a.queue), 4<<10)
			chunk = append(chunk[:0], a.queue[:n]...)
			a.queue = a.queue[n:]
			if len(a.queue) == 0 {
				a.queue = a.queue[:0:0] // lets the backing array go
			}
		}
		a.qmu.Unlock()
		if quit {
			return typed{rest: chunk}
		}
		if len(chunk) == 0 {
			<-a.wake
			continue
		}
		// A write the terminal takes at once, else one that waits for room: meanwhile the
		// terminal is full.
		n := writeNow(typist, chunk)
		var err error
		if n < len(chunk) {
			a.qmu.Lock()
			// A signal key typed before the terminal filled is delivered now: it waits
			// here or in the queue, behind input the child may never read.
			if sig, rest := c.signalKey(chunk[n:], a.queue); sig != 0 {
				a.queue = rest
				a.qmu.Unlock()
				flushTerminalInput(c.tty)
				_ = sendTerminalSignal(c.master, sig)
				chunk = nil
				continue
			}
			a.full = true
			a.qmu.Unlock()
			var m int
			m, err = typist.Write(chunk[n:])
			n += m
			a.qmu.Lock()
			a.full = false
			if flushed := a.flushed; flushed != nil && !a.quit {
				// A signal key: the rest of the chunk is dropped with what it interrupted.
				a.flushed = nil
				_ = typist.SetWriteDeadline(time.Time{})
				a.qmu.Unlock()
				close(flushed)
				chunk = nil
				continue
			}
			a.qmu.Unlock()
		}
		chunk = chunk[n:]
		if err != nil {
			a.qmu.Lock()
			quit := a.quit
			a.qmu.Unlock()
			if quit {
				return typed{rest: chunk}
			}
			return typed{rest: chunk, err: fmt.Errorf("bridge: typing into the console of %s (pid %d): %w", c.name, c.pid, err)}
		}
	}
}

// signalKey finds the first signal key in chunk then queue, and returns its signal and a
// copy of what follows it; 0 if there is none.
func (c *Console) signalKey(chunk, queue []byte) (syscall.Signal, []byte) {
	if sig, i := terminalSignal(c.master, chunk); sig != 0 {
		return sig, append(append([]byte(nil), chunk[i+1:]...), queue...)
	}
	if sig, i := terminalSignal(c.master, queue); sig != 0 {
		return sig, append([]byte(nil), queue[i+1:]...)
	}
	return 0, nil
}

// poke wakes typeInput.
func (a *attachment) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// drop counts typed input dropped for a full terminal, and logs it the first time.
func (a *attachment) drop(c *Console, n int) {
	a.qmu.Lock()
	first := a.dropped == 0
	a.dropped += n
	a.qmu.Unlock()
	if first && c.log != nil {
		c.log(slog.LevelWarn, "console: the child is not reading its terminal, which is full; typed input is dropped",
			"dropped", n)
	}
}

// mirror hands output the relay just read to the attached terminal and keeps the last of
// it for the next one.
func (c *Console) mirror(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recent = append(c.recent, p...)
	if over := len(c.recent) - recentMax; over > 0 {
		c.recent = append(c.recent[:0], c.recent[over:]...)
	}
	if a := c.att; a != nil {
		if _, err := a.out.Write(p); err != nil {
			c.att = nil
			a.failed <- err
		}
	}
}

// fromLineStart returns b from its first line start: b itself if it holds all the output
// so far, else what follows its first newline (so a replay never starts mid-line, nor in
// the middle of an escape sequence that a line holds).
func fromLineStart(b []byte) []byte {
	if len(b) < recentMax {
		return b
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return nil
}

// consoleReader is what the relay reads: the console's output, mirrored on its way.
type consoleReader struct{ c *Console }

func (r consoleReader) Read(p []byte) (int, error) {
	n, err := r.c.master.Read(p)
	if n > 0 {
		r.c.mirror(p[:n])
	}
	return n, err
}

// newConsole wraps the host's end of a child's terminal and starts relaying its output.
func newConsole(master, tty *os.File, name string, pid int, opts *ConsoleOptions, out io.Writer, fn func(LogLine), t *tail, log func(slog.Level, string, ...any)) (*Console, *lineRelay) {
	c := &Console{name: name, pid: pid, master: master, tty: tty, log: log}
	s := &lineRelay{name: name, pid: pid, stream: "console", out: out, fn: fn, tail: t, done: make(chan struct{}), log: log}
	if !opts.KeepControls {
		s.filter = visibleText
	}
	c.done = s.done
	go s.run(consoleReader{c})
	return c, s
}

// Console returns the child's terminal, or nil without WithConsole.
func (p *Process) Console() *Console {
	if p == nil {
		return nil
	}
	return p.console
}
