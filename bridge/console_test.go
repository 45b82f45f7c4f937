//go:build unix

package bridge

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// screen is a terminal's output as a test reads it.
type screen struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *screen) waitFor(t *testing.T, text string) {
	t.Helper()
	eventually(t, "the terminal shows "+text, func() bool { return strings.Contains(s.String(), text) })
}

func TestConsoleIsATerminal(t *testing.T) {
	ctx := context.Background()
	var tty []bool
	p := start(t, child("console"), WithConsole(ConsoleOptions{}))
	require.NoError(t, p.Call(ctx, "isatty", nil, &tty))
	assert.Equal(t, []bool{true, true, true}, tty, "stdin, stdout and stderr are the console")
	require.NotNil(t, p.Console())
	assert.Equal(t, p.Pid(), p.Console().Pid())

	p = start(t, child("console"), WithChannel(ChannelFDs))
	require.NoError(t, p.Call(ctx, "isatty", nil, &tty))
	assert.Equal(t, []bool{false, false, false}, tty)
	assert.Nil(t, p.Console())
}

func TestConsoleRelaysLinesWithoutControls(t *testing.T) {
	ctx := context.Background()
	const text = "\x1b[1;31mred\x1b[0m and plain\n\x1b]0;a title\x07progress  0%\rprogress 50%\rprogress 100%\nno newline"
	for _, keep := range []bool{false, true} {
		var got lines
		p := start(t, child("console"), WithConsole(ConsoleOptions{KeepControls: keep}), WithLogFunc(got.add))
		require.NoError(t, p.Call(ctx, "print", []any{text}, nil))
		require.NoError(t, p.Close())
		want := []string{"red and plain", "progress 100%", "no newline"}
		if keep {
			want = []string{"\x1b[1;31mred\x1b[0m and plain", "\x1b]0;a title\x07progress  0%\rprogress 50%\rprogress 100%", "no newline"}
		}
		assert.Equal(t, want, got.texts("console"), "KeepControls %v", keep)
		assert.Empty(t, got.texts("stderr"))
	}
}

func TestConsoleAttach(t *testing.T) {
	ctx := context.Background()
	var logs lines
	p := start(t, child("console"), WithConsole(ConsoleOptions{}), WithLogFunc(logs.add))
	c := p.Console()

	in, typist := io.Pipe()
	var out screen
	attached := make(chan error, 1)
	actx, detach := context.WithCancel(ctx)
	go func() { attached <- c.Attach(actx, in, &out) }()
	eventually(t, "attached", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.att != nil })
	assert.ErrorIs(t, c.Attach(ctx, strings.NewReader(""), io.Discard), ErrAttached)

	answer := callInBackground(ctx, p, "readline", []any{"name? "})
	out.waitFor(t, "name? ")
	_, err := typist.Write([]byte("polyfork\r"))
	require.NoError(t, err)
	assert.Equal(t, "polyfork", <-answer)
	out.waitFor(t, "name? polyfork") // the terminal echoes what is typed
	// The relay goes on while attached (it logs the line a moment after the screen shows it).
	eventually(t, "the relay to log the line while attached", func() bool {
		return slices.Contains(logs.texts("console"), "name? polyfork")
	})

	detach()
	assert.ErrorIs(t, <-attached, context.Canceled)
	_, err = typist.Write([]byte("dropped\r")) // the input goroutine ends at its next read
	require.NoError(t, err)

	// A terminal that attaches later sees the last output first.
	var again screen
	in2, typist2 := io.Pipe()
	go func() { attached <- c.Attach(ctx, in2, &again) }()
	again.waitFor(t, "name? polyfork")
	typist2.Close() // end of input detaches
	assert.NoError(t, <-attached)
}

func TestConsoleAttachEndsWhenTheChildExits(t *testing.T) {
	ctx := context.Background()
	p := start(t, child("console"), WithConsole(ConsoleOptions{}))
	in, typist := io.Pipe()
	defer typist.Close()
	attached := make(chan error, 1)
	var out screen
	go func() { attached <- p.Console().Attach(ctx, in, &out) }()
	err := p.Call(ctx, "exit", []any{3}, nil)
	var ee *ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 3, ee.Code)
	assert.Contains(t, ee.Stderr, "exiting with 3 on request", "the console's lines go into errors")
	assert.NoError(t, <-attached)
	<-p.Console().Done()
	assert.NoError(t, p.Console().Attach(ctx, strings.NewReader(""), io.Discard), "a closed console attaches to nothing")
	_, err = p.Console().Write([]byte("x"))
	assert.Error(t, err)
}

// A child that closes descriptors 0 to 2 has not ended its terminal: it can open /dev/tty
// again, and what it writes there is relayed (the console was once ended at the first
// moment no process held the terminal, and the child then blocked on a full terminal).
func TestConsoleOutlivesAChildClosingItsStdio(t *testing.T) {
	ctx := context.Background()
	var logs lines
	p := start(t, child("console"), WithConsole(ConsoleOptions{}), WithLogFunc(logs.add))
	require.NoError(t, p.Call(ctx, "close_stdio", nil, nil))
	select {
	case <-p.Console().Done():
		t.Fatal("the console ended while its child runs")
	case <-time.After(300 * time.Millisecond):
	}
	line := strings.Repeat("x", 79) + "\n"
	callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, p.Call(callCtx, "tty_print", []any{strings.Repeat(line, 2000) + "back\n"}, nil),
		"160 KB to the reopened terminal: more than it buffers")
	eventually(t, "the relay to log the line written after reopening", func() bool {
		return slices.Contains(logs.texts("console"), "back")
	})
	require.NoError(t, p.Close())
	<-p.Console().Done()
}

func TestConsoleWindowSize(t *testing.T) {
	ctx := context.Background()
	p := start(t, child("console"), WithConsole(ConsoleOptions{Cols: 100, Rows: 30}))
	var size []int
	require.NoError(t, p.Call(ctx, "winsize", nil, &size))
	assert.Equal(t, []int{100, 30}, size)
	require.NoError(t, p.Console().Resize(132, 43))
	require.NoError(t, p.Call(ctx, "winsize", nil, &size))
	assert.Equal(t, []int{132, 43}, size)
	assert.Error(t, p.Console().Resize(0, 10))

	p = start(t, child("console"), WithConsole(ConsoleOptions{}))
	require.NoError(t, p.Call(ctx, "winsize", nil, &size))
	assert.Equal(t, []int{80, 24}, size)
}

func TestConsoleCtrlCInterruptsTheChild(t *testing.T) {
	ctx := context.Background()
	var out screen
	in, typist := io.Pipe()
	defer typist.Close()
	p := start(t, child("console"), WithConsole(ConsoleOptions{
		OnStart: func(c *Console) { go c.Attach(ctx, in, &out) },
	}))
	answer := callInBackground(ctx, p, "wait_sigint", nil)
	out.waitFor(t, "waiting for SIGINT")
	_, err := p.Console().Write([]byte{3}) // Ctrl-C, typed
	require.NoError(t, err)
	assert.Equal(t, "interrupted", <-answer, "the console is the child's controlling terminal")
}

func TestConsoleOnStartRunsBeforeReady(t *testing.T) {
	var seen *Console
	p := start(t, child("console"), WithConsole(ConsoleOptions{OnStart: func(c *Console) {
		seen = c
	}}), WithName("worker"))
	require.NotNil(t, seen)
	assert.Same(t, p.Console(), seen)
	assert.Equal(t, "worker", seen.Name())
}

func TestConsoleOptionErrors(t *testing.T) {
	_, err := Start(context.Background(), child("console"), WithConsole(ConsoleOptions{Cols: 70000}))
	require.ErrorIs(t, err, ErrInvalidOption)
	assert.Contains(t, err.Error(), "WithConsole")
	_, err = NewConn(nil, nil, WithConsole(ConsoleOptions{}))
	require.ErrorIs(t, err, ErrInvalidOption, "a Conn has no console")
}

func TestConsoleInAPool(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	consoles := map[string]*Console{}
	pool, err := NewPool(ctx, child("console"), WithWorkers(2), WithStderr(nil),
		WithConsole(ConsoleOptions{OnStart: func(c *Console) {
			mu.Lock()
			consoles[c.Name()] = c
			mu.Unlock()
		}}))
	require.NoError(t, err)
	defer pool.Close()
	var tty []bool
	require.NoError(t, pool.Call(ctx, "isatty", nil, &tty))
	assert.Equal(t, []bool{true, true, true}, tty)
	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, consoles, 2)
	for name, c := range consoles {
		assert.True(t, strings.Contains(name, "#"), name)
		assert.NotZero(t, c.Pid())
	}
}

// TestConsoleStartsAndStopsWithoutLeaks starts and stops 1000 children with consoles and
// checks that descriptors, goroutines and processes are back to where they were.
func TestConsoleStartsAndStopsWithoutLeaks(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 children")
	}
	// A descriptor left open would be closed by its finalizer at the next collection,
	// hiding the leak from the count: no collection runs until the count is checked.
	gc := debug.SetGCPercent(-1)
	t.Cleanup(func() { debug.SetGCPercent(gc) }) // after checkNoLeaks's cleanup
	checkNoLeaks(t)
	ctx := context.Background()
	const total, parallel = 1000, 4
	var wg sync.WaitGroup
	errs := make(chan error, total)
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < total/parallel; i++ {
				p, err := Start(ctx, child("console"), WithConsole(ConsoleOptions{}), WithStderr(nil),
					WithEnv("GORACE=atexit_sleep_ms=0"),              // a -race child sleeps 1 s at exit by default
					WithGracePeriods(10*time.Second, 10*time.Second)) // a loaded machine is no leak
				if err != nil {
					errs <- err
					return
				}
				var s string
				if err := p.Call(ctx, "echo", []any{"x"}, &s); err != nil {
					errs <- err
				}
				if i%2 == 0 {
					err = p.Close()
				} else {
					p.Kill()
					err = p.Wait()
					var ee *ExitError
					if errors.As(err, &ee) {
						err = nil
					}
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestVisibleText(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"plain", "hello, world", "hello, world"},
		{"tab kept", "a\tb", "a\tb"},
		{"colours", "\x1b[1;32mok\x1b[0m done", "ok done"},
		{"window title", "\x1b]0;title\x07text", "text"},
		{"title ended by ST", "\x1b]2;title\x1b\\text", "text"},
		{"charset designation", "\x1b(Btext", "text"},
		{"keypad mode", "\x1b=text\x1b>", "text"},
		{"bracketed paste", "\x1b[?2004h(Pdb) ", "(Pdb) "},
		{"carriage return overwrites", "loading...\rdone", "doneing..."},
		{"progress bar", "  0%\r 50%\r100%", "100%"},
		{"backspace", "abc\b\bX", "aXc"},
		{"bell", "ding\a", "ding"},
		{"utf-8 kept", "h\u00e9llo \u2192 \U0001F600", "h\u00e9llo \u2192 \U0001F600"},
		{"utf-8 overwritten by column", "\u00e9\u00e9\rx", "x\u00e9"},
		{"invalid utf-8 kept", "a\xffb\x1b[0m", "a\xffb"},
		{"unfinished escape", "text\x1b[12", "text"},
		{"C1 control", "a\u0085b", "ab"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, string(visibleText([]byte(c.in))))
		})
	}
}

// flood attaches an os.Pipe to c and writes 1.4 MB into it: far more than the terminal of
// a child that does not read it buffers. It fails the test unless the whole flood is read.
func flood(t *testing.T, ctx context.Context, c *Console) (typist *os.File, attached <-chan error) {
	t.Helper()
	in, typist, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { in.Close(); typist.Close() })
	done := make(chan error, 1)
	go func() { done <- c.Attach(ctx, in, io.Discard) }()
	wrote := make(chan error, 1)
	go func() {
		_, err := typist.Write([]byte(strings.Repeat(strings.Repeat("y", 99)+"\n", 14000)))
		wrote <- err
	}()
	select {
	case err := <-wrote:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the attached input stopped being read while the terminal was full")
	}
	return typist, done
}

func waitAttach(t *testing.T, attached <-chan error) error {
	t.Helper()
	select {
	case err := <-attached:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Attach did not return")
		return nil
	}
}

// Input that the child does not read fills its terminal; Attach reads on regardless, so
// end of input, a cancelled context and Ctrl-C are seen at once and the console is free
// for the next terminal (its input was once written on the reading goroutine, which then
// blocked on the full terminal for as long as the child did not read).
func TestConsoleAttachWhileTheChildDoesNotRead(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	var logs syncBuffer
	p := start(t, child("console"), WithConsole(ConsoleOptions{}), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	c := p.Console()
	answer := callInBackground(ctx, p, "wait_signal", nil)
	waitUntilWaiting(t, ctx, c)

	// End of input detaches at once, dropping what the terminal has no room for.
	typist, attached := flood(t, ctx, c)
	typist.Close()
	assert.NoError(t, waitAttach(t, attached))
	assert.NoError(t, c.Attach(ctx, strings.NewReader(""), io.Discard), "the console is free again")
	assert.Equal(t, 1, strings.Count(logs.String(), "typed input is dropped"), "said once per attachment:\n%s", logs.String())

	// So does a cancelled context.
	actx, detach := context.WithCancel(ctx)
	_, attached = flood(t, actx, c)
	detach()
	assert.ErrorIs(t, waitAttach(t, attached), context.Canceled)
	assert.NoError(t, c.Attach(ctx, strings.NewReader(""), io.Discard))

	// Ctrl-C typed while the terminal is full still interrupts the child.
	typist, attached = flood(t, ctx, c)
	_, err := typist.Write([]byte{3})
	require.NoError(t, err)
	select {
	case s := <-answer:
		assert.Equal(t, "interrupt", s)
	case <-time.After(10 * time.Second):
		t.Fatal("Ctrl-C typed into a full terminal did not reach the child")
	}
	typist.Close()
	assert.NoError(t, waitAttach(t, attached))
	assert.Equal(t, 3, strings.Count(logs.String(), "typed input is dropped"), logs.String())
}

// Ctrl-C typed into a full terminal drops the input polyfork still holds for it, as the
// terminal itself flushes its input on an interrupt, and what is typed after it reaches
// the child.
func TestConsoleCtrlCDropsTheQueuedInput(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	p := start(t, child("console"), WithConsole(ConsoleOptions{}))
	c := p.Console()
	answer := make(chan any, 1)
	go func() {
		var n int
		if err := p.Call(ctx, "interrupted_reads", nil, &n); err != nil {
			answer <- err
			return
		}
		answer <- n
	}()
	waitUntilWaiting(t, ctx, c)
	typist, attached := flood(t, ctx, c)
	_, err := typist.Write([]byte("\x03after\n"))
	require.NoError(t, err)
	select {
	case got := <-answer:
		n, ok := got.(int)
		require.True(t, ok, "the child did not read the line typed after Ctrl-C: %v", got)
		t.Logf("the child read %d bytes typed before Ctrl-C", n)
		assert.Less(t, n, 1, "input typed before Ctrl-C reached the child")
	case <-time.After(10 * time.Second):
		t.Fatal("the child did not get the line typed after Ctrl-C")
	}
	typist.Close()
	assert.NoError(t, waitAttach(t, attached))
}

// A signal key that arrives while the input queue is full is delivered, not dropped with
// the input that has no room: before the typist first blocks on the full terminal (its
// goroutine may start late), the queue can fill while the terminal is not yet known to be
// full, and Ctrl-C was then lost (a flake of TestConsoleAttachWhileTheChildDoesNotRead).
func TestConsoleCtrlCIsNeverDroppedForRoom(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	p := start(t, child("console"), WithConsole(ConsoleOptions{}))
	c := p.Console()
	answer := callInBackground(ctx, p, "wait_signal", nil)
	waitUntilWaiting(t, ctx, c)
	typist, err := dupNonblock(c.master)
	require.NoError(t, err)
	defer typist.Close()
	a := &attachment{wake: make(chan struct{}, 1), typist: typist, queue: make([]byte, inputQueueMax)}
	c.queueInput(a, []byte{3})
	select {
	case s := <-answer:
		assert.Equal(t, "interrupt", s)
	case <-time.After(10 * time.Second):
		t.Fatal("Ctrl-C typed when the queue had no room was dropped")
	}
	assert.Empty(t, a.queue, "the input before it is dropped")
}

// callInBackground calls method with params on p, and sends its string result, or its
// error's text, on the channel it returns.
func callInBackground(ctx context.Context, p *Process, method string, params any) <-chan string {
	answer := make(chan string, 1)
	go func() {
		var s string
		if err := p.Call(ctx, method, params, &s); err != nil {
			s = err.Error()
		}
		answer <- s
	}()
	return answer
}

// waitUntilWaiting returns once the console's child shows "waiting for a signal" (the
// console helper's wait_signal and interrupted_reads print it before they wait).
func waitUntilWaiting(t *testing.T, ctx context.Context, c *Console) {
	t.Helper()
	eventually(t, "the child waiting", func() bool {
		var again screen
		_ = c.Attach(ctx, strings.NewReader(""), &again)
		return strings.Contains(again.String(), "waiting for a signal")
	})
}

// Attach with a nil input or output is refused, and the console stays usable: a nil out
// panicked with the console's lock held, so a caller that recovered found every later
// Attach waiting for ever, and the relay with it (the child then blocked writing to its
// terminal); a nil in panicked on a goroutine of its own, and the host died.
func TestConsoleAttachRefusesANilTerminal(t *testing.T) {
	ctx := context.Background()
	p := start(t, child("console"), WithConsole(ConsoleOptions{}))
	c := p.Console()
	answer := callInBackground(ctx, p, "readline", []any{"name? "})
	eventually(t, "the prompt", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return len(c.recent) > 0 })
	for _, err := range []error{
		c.Attach(ctx, nil, io.Discard), c.Attach(ctx, strings.NewReader(""), nil), c.Attach(ctx, nil, nil),
	} {
		requireContains(t, err, "attaching to the console", "the terminal's input or output is nil")
	}
	in, typist := io.Pipe()
	var out screen
	attached := make(chan error, 1)
	go func() { attached <- c.Attach(ctx, in, &out) }()
	out.waitFor(t, "name? ")
	_, err := typist.Write([]byte("polyfork\r"))
	require.NoError(t, err)
	assert.Equal(t, "polyfork", <-answer)
	typist.Close()
	assert.NoError(t, <-attached)
}
