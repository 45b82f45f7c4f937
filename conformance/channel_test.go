package conformance

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/polyfork/polyfork/bridge"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// relayed collects the lines a child's streams were relayed as.
type relayed struct {
	mu    sync.Mutex
	lines []bridge.LogLine
}

func (r *relayed) add(l bridge.LogLine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, l)
}

// texts returns the lines of stream, in order.
func (r *relayed) texts(stream string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.lines {
		if l.Stream == stream {
			out = append(out, l.Text)
		}
	}
	return out
}

// startWith starts argv with l's environment and opts, relaying its lines to logs, and
// kills it when the test ends.
func startWith(t *testing.T, l lang, argv []string, logs *relayed, opts ...bridge.Option) *bridge.Process {
	t.Helper()
	p, err := bridge.Start(context.Background(), argv, append([]bridge.Option{bridge.WithEnv(l.env...), bridge.WithLogFunc(logs.add)}, opts...)...)
	require.NoError(t, err, "starting %v", argv)
	t.Cleanup(func() {
		p.Kill()
		p.Wait()
		if t.Failed() {
			logs.mu.Lock()
			t.Logf("%s relayed: %+v", l.name, logs.lines)
			logs.mu.Unlock()
		}
	})
	return p
}

func testdata(name string) string {
	abs, _ := filepath.Abs(filepath.Join(root, "conformance", "testdata", name))
	return abs
}

// TestRawStdoutUnderChannelFD runs a child that writes to descriptor 1 before its client
// library is loaded and, in a handler, with the lowest-level writes its language has. With
// the channel on descriptors those bytes are stdout log lines and every call completes;
// over stdio the first write breaks the channel, as it must.
func TestRawStdoutUnderChannelFD(t *testing.T) {
	scripts := map[string]struct {
		file string
		raw  []string // what the handler writes to descriptor 1, in order
	}{
		"python": {"early_stdout.py", []string{"from os.write", "from a shell", "from print"}},
		"php":    {"early_stdout.php", []string{"from php://fd/1", "from a shell"}},
		"node":   {"early_stdout.js", []string{"from fs.writeSync", "from a shell", "from console.log"}},
	}
	forEachLang(t, func(t *testing.T, l lang) {
		s, ok := scripts[l.name]
		if !ok {
			t.Skip("a Go child's stdout is its own before any library runs")
		}
		ctx := context.Background()
		argv := []string{l.argv[0], testdata(s.file)}
		var logs relayed
		p := startWith(t, l, argv, &logs, bridge.WithChannel(bridge.ChannelFDs))
		for i := 0; i < 3; i++ {
			var got string
			require.NoError(t, p.Call(ctx, "noisy", nil, &got))
			assert.Equal(t, "ok", got)
		}
		require.NoError(t, p.Close())
		stdout := logs.texts("stdout")
		assert.Contains(t, stdout, "early bytes before the client")
		if l.name == "php" {
			assert.Contains(t, stdout, "output before the opening tag")
		}
		for _, want := range s.raw {
			assert.Equal(t, 3, count(stdout, want), "%q relayed once per call as a stdout line: %q", want, stdout)
		}

		// Over stdin and stdout, the early bytes land in the channel.
		_, err := bridge.Start(ctx, argv, bridge.WithEnv(l.env...), bridge.WithStderr(nil))
		require.ErrorIs(t, err, bridge.ErrProtocol)
		assert.Contains(t, err.Error(), "something wrote to stdout")
	})
}

func count(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if l == s {
			n++
		}
	}
	return n
}

// TestWriteFD1UnderChannelFD has every conformance child write straight to descriptor 1
// (SPEC section 9, write_fd1) with its channel on descriptors: a stdout log line.
func TestWriteFD1UnderChannelFD(t *testing.T) {
	forEachLang(t, func(t *testing.T, l lang) {
		ctx := context.Background()
		var logs relayed
		p := startWith(t, l, l.argv, &logs, bridge.WithChannel(bridge.ChannelFDs))
		require.NoError(t, p.Call(ctx, "write_fd1", []any{"raw h\u00e9llo\n"}, nil))
		var sum int64
		require.NoError(t, p.Call(ctx, "add", []any{40, 2}, &sum))
		assert.Equal(t, int64(42), sum)
		require.NoError(t, p.Close())
		assert.Contains(t, logs.texts("stdout"), "raw h\u00e9llo")
	})
}

// TestConsoleIsATerminal checks what every child's stdin, stdout and stderr are: a
// terminal under WithConsole, not one otherwise.
func TestConsoleIsATerminal(t *testing.T) {
	forEachLang(t, func(t *testing.T, l lang) {
		ctx := context.Background()
		for _, c := range []struct {
			name string
			opts []bridge.Option
			want []bool
		}{
			{"console", []bridge.Option{bridge.WithConsole(bridge.ConsoleOptions{})}, []bool{true, true, true}},
			{"fd", []bridge.Option{bridge.WithChannel(bridge.ChannelFDs)}, []bool{false, false, false}},
			{"stdio", nil, []bool{false, false, false}},
		} {
			var logs relayed
			p := startWith(t, l, l.argv, &logs, c.opts...)
			var tty []bool
			require.NoError(t, p.Call(ctx, "isatty", nil, &tty))
			assert.Equal(t, c.want, tty, c.name)
			if c.name == "console" {
				require.NoError(t, p.Call(ctx, "write_fd1", []any{"\x1b[32mgreen\x1b[0m on the console\n"}, nil))
				require.NoError(t, p.Close())
				assert.Contains(t, logs.texts("console"), "green on the console")
			}
		}
	})
}

// TestChildHasOnlyWhatIsPassed opens a file in the host without close-on-exec and checks
// that no child has it, with the channel on descriptors, and that the library took
// POLYFORK_CHANNEL_FDS out of its environment (SPEC section 1.1).
func TestChildHasOnlyWhatIsPassed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "host-only")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	fd, err := syscall.Open(path, syscall.O_RDONLY, 0)
	require.NoError(t, err)
	defer syscall.Close(fd)
	forEachLang(t, func(t *testing.T, l lang) {
		ctx := context.Background()
		var logs relayed
		p := startWith(t, l, l.argv, &logs, bridge.WithChannel(bridge.ChannelFDs))
		var fds []int
		require.NoError(t, p.Call(ctx, "fds", nil, &fds))
		for _, want := range []int{0, 1, 2} {
			assert.Contains(t, fds, want)
		}
		dir := "/proc/" + strconv.Itoa(p.Pid()) + "/fd"
		for _, n := range fds {
			target, err := os.Readlink(filepath.Join(dir, strconv.Itoa(n)))
			if err == nil {
				assert.NotEqual(t, path, target, "descriptor %d of the %s child is the host's file", n, l.name)
			}
		}
		var v any
		require.NoError(t, p.Call(ctx, "env", []any{"POLYFORK_CHANNEL_FDS"}, &v))
		assert.Nil(t, v, "the library removes the variable, so processes it starts do not take the channel for theirs")
	})
}

// TestRegisterJSUnderChannelFD runs an unmodified child_process.fork script through
// register.js with the channel on descriptors: messages both ways, and console.log on
// stdout as under Node's fork.
func TestRegisterJSUnderChannelFD(t *testing.T) {
	forEachLang(t, func(t *testing.T, l lang) {
		if l.name != "node" {
			t.Skip("register.js is Node's")
		}
		abs, _ := filepath.Abs(root)
		messages := make(chan any, 1)
		var logs relayed
		p := startWith(t, l, []string{l.argv[0], "--require", filepath.Join(abs, "clients/node/register.js"), testdata("fork_child.js")},
			&logs, bridge.WithChannel(bridge.ChannelFDs), bridge.OnMessage(func(v any) { messages <- v }))
		require.NoError(t, p.Send(context.Background(), map[string]any{"a": 40, "b": 2}))
		select {
		case v := <-messages:
			assert.EqualValues(t, map[string]any{"sum": int64(42)}, v)
		case <-time.After(10 * time.Second):
			t.Fatal("no message back")
		}
		require.NoError(t, p.Close())
		assert.Equal(t, []string{`child got {"a":40,"b":2}`, "raw write to stdout"}, logs.texts("stdout"))
		assert.Empty(t, strings.Join(logs.texts("stderr"), "\n"))
	})
}
