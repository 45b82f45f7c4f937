package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/polyfork/polyfork/bridge"
	"golang.org/x/term"
)

// detachKey is the byte that ends an attached session: Ctrl-], as in telnet.
const detachKey = 0x1d

// errDetached is what reading the user's terminal returns once the detach key is typed.
var errDetached = errors.New("detached with Ctrl-]")

// userTerminal is the terminal polyfork runs in, when its stdin is one: call -console and
// attach put it in raw mode and connect it to a child's console. What is written to it is
// the child's output, followed for the modes it turns on (screenModes). Close puts all of
// its modes back; every exit path of a command that made it raw calls Close before
// printing.
type userTerminal struct {
	fd       int      // stdin's descriptor: modes and window size
	in       *os.File // the terminal opened anew, so that a pending read can be interrupted
	screen   *screenModes
	reopened bool // in was opened here, and is closed by Close

	mu       sync.Mutex
	state    *term.State // the modes to restore, while raw
	detached bool

	stopSignals func()         // ends the watch makeRaw started, or nil
	signals     sync.WaitGroup // the goroutine watching for SIGHUP and SIGQUIT
}

// openTerminal returns the user's terminal if stdin is one, else nil. Reading stdin
// itself could not be interrupted (it is in blocking mode, shared with the shell), so the
// terminal is opened again through /proc/self/fd: a file of its own that the runtime
// polls. Where that fails (outside Linux), stdin is read directly, and a read pending when
// the session ends lasts until the next key.
func openTerminal(stdin io.Reader) *userTerminal {
	f, ok := stdin.(*os.File)
	if !ok {
		return nil
	}
	fd := int(f.Fd())
	if !term.IsTerminal(fd) {
		return nil
	}
	t := &userTerminal{fd: fd, in: f}
	if tty, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(fd), os.O_RDWR|noCtty, 0); err == nil {
		t.in, t.reopened = tty, true
	}
	t.screen = newScreenModes(t.in)
	return t
}

// hangupSignals end a command whose terminal is raw as SIGINT and SIGTERM do, once its
// modes are back: the terminal closing (SIGHUP) or Ctrl-\ typed elsewhere (SIGQUIT) would
// otherwise kill polyfork with the terminal left raw. They are caught only while it is:
// serve and cluster take SIGHUP for a reload.
var hangupSignals = []os.Signal{syscall.SIGHUP, syscall.SIGQUIT}

// makeRaw puts the terminal in raw mode: every key goes to the child as typed (Ctrl-C
// too, which the child's own terminal turns into SIGINT for it). Until Restore, SIGHUP
// and SIGQUIT restore the terminal's modes and call onSignal, which is to end the
// command.
func (t *userTerminal) makeRaw(onSignal func(os.Signal)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != nil {
		return nil
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, hangupSignals...) // before the modes change: no moment uncovered
	st, err := term.MakeRaw(t.fd)
	if err != nil {
		signal.Stop(sigs)
		return err
	}
	t.state = st
	stop := make(chan struct{})
	t.stopSignals = func() {
		signal.Stop(sigs)
		close(stop)
		t.signals.Wait()
	}
	t.signals.Add(1)
	go func() {
		defer t.signals.Done()
		select {
		case sig := <-sigs:
			t.restoreModes()
			onSignal(sig)
		case <-stop:
		}
	}()
	return nil
}

// Restore puts the terminal's modes back as they were before makeRaw, and stops
// watching for SIGHUP and SIGQUIT. It is safe to call more than once.
func (t *userTerminal) Restore() {
	t.restoreModes()
	t.mu.Lock()
	stop := t.stopSignals
	t.stopSignals = nil
	t.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// restoreModes puts the terminal's modes back, if they are raw.
func (t *userTerminal) restoreModes() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != nil {
		_ = term.Restore(t.fd, t.state)
		t.state = nil
	}
}

// Close turns back the modes the child's output turned on (the child carries on in
// them; the user's terminal leaves them), restores the line discipline's, and closes what
// openTerminal opened. Output written after it is dropped.
func (t *userTerminal) Close() {
	t.screen.restore()
	t.Restore()
	if t.reopened {
		t.in.Close()
	}
}

// size returns the terminal's window size, or 0, 0.
func (t *userTerminal) size() (cols, rows int) {
	cols, rows, err := term.GetSize(t.fd)
	if err != nil {
		return 0, 0
	}
	return cols, rows
}

// onResize calls fn with the new size whenever the terminal's window changes, until stop.
func (t *userTerminal) onResize(fn func(cols, rows int)) (stop func()) {
	ch := make(chan os.Signal, 1)
	if resizeSignal != nil {
		signal.Notify(ch, resizeSignal)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ch:
				if cols, rows := t.size(); cols > 0 && rows > 0 {
					fn(cols, rows)
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
		wg.Wait()
	}
}

// Read reads keys, up to the detach key: then it returns errDetached, for good.
func (t *userTerminal) Read(p []byte) (int, error) {
	t.mu.Lock()
	detached := t.detached
	t.mu.Unlock()
	if detached {
		return 0, errDetached
	}
	n, err := t.in.Read(p)
	for i := 0; i < n; i++ {
		if p[i] == detachKey {
			t.mu.Lock()
			t.detached = true
			t.mu.Unlock()
			if i == 0 {
				return 0, errDetached
			}
			return i, nil
		}
	}
	return n, err
}

// Write shows the child's output, following the modes it turns on.
func (t *userTerminal) Write(p []byte) (int, error) { return t.screen.Write(p) }

// SetReadDeadline interrupts a pending Read (see bridge.Console.Attach).
func (t *userTerminal) SetReadDeadline(d time.Time) error { return t.in.SetReadDeadline(d) }

// Detached reports whether the detach key was typed.
func (t *userTerminal) Detached() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.detached
}

// terminalSession connects the user's terminal, if there is one, to the console of the
// child one command starts (call -console), from the child's start to end: the terminal
// is raw meanwhile, follows window changes, and the detach key cancels the command.
type terminalSession struct {
	term   *userTerminal // nil: no terminal; the console's lines are relayed
	cancel context.CancelCauseFunc

	mu         sync.Mutex
	ctx        context.Context // ends the attachment
	stop       context.CancelFunc
	attached   chan struct{} // closed when the attachment has ended; nil until the start
	stopResize func()
	ended      bool
}

// newTerminalSession returns a session on stdin's terminal, or one that only relays when
// stdin is not a terminal. cancel is called with errDetached when the detach key is typed.
func newTerminalSession(stdin io.Reader, cancel context.CancelCauseFunc) *terminalSession {
	s := &terminalSession{term: openTerminal(stdin), cancel: cancel}
	s.ctx, s.stop = context.WithCancel(context.Background())
	return s
}

// options returns the bridge options for the child's console: co, sized like the
// terminal unless co says otherwise, attached to it as soon as the child runs. The
// console's lines are not relayed to the log as well: the terminal shows them.
func (s *terminalSession) options(co bridge.ConsoleOptions) []bridge.Option {
	if s.term == nil {
		return []bridge.Option{bridge.WithConsole(co)}
	}
	if co.Cols == 0 {
		co.Cols, co.Rows = s.term.size()
	}
	co.OnStart = s.attach
	return []bridge.Option{bridge.WithConsole(co), bridge.WithStdout(nil)}
}

// begin puts the terminal in raw mode; call it before starting the child.
func (s *terminalSession) begin() error {
	if s == nil || s.term == nil {
		return nil
	}
	return s.term.makeRaw(func(sig os.Signal) { s.cancel(fmt.Errorf("stopped by %v", sig)) })
}

// attach is the console's OnStart: it connects the terminal until end.
func (s *terminalSession) attach(c *bridge.Console) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || s.attached != nil {
		return
	}
	s.attached = make(chan struct{})
	go func() {
		defer close(s.attached)
		if err := c.Attach(s.ctx, s.term, s.term); errors.Is(err, errDetached) {
			s.cancel(errDetached)
		}
	}()
	s.stopResize = s.term.onResize(func(cols, rows int) { _ = c.Resize(cols, rows) })
}

// end detaches the terminal and restores its modes, those of the line discipline and
// those the child's output turned on in the terminal. Every path out of the command
// calls it before printing; it is safe to call more than once.
func (s *terminalSession) end() {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.ended = true
	attached, stopResize := s.attached, s.stopResize
	s.stopResize = nil
	s.mu.Unlock()
	s.stop()
	if attached != nil {
		<-attached
	}
	if stopResize != nil {
		stopResize()
	}
	if s.term != nil {
		s.term.Close()
	}
}

// interactive reports whether the user's terminal is connected to the child.
func (s *terminalSession) interactive() bool { return s != nil && s.term != nil }
