package bridge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/polyfork/polyfork/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCallsAndMessages(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	got := make(chan any, 1)
	p := start(t, child("serve"), OnMessage(func(v any) { got <- v }))
	assert.Equal(t, "go-test", p.Ready().Lang)
	assert.Equal(t, p.Pid(), p.Ready().Pid)
	assert.Equal(t, "bridge.test", p.Name())

	var sum int
	require.NoError(t, p.Call(ctx, "add", []any{40, 2}, &sum))
	assert.Equal(t, 42, sum)

	var echoed any
	big := uint64(18446744073709551615)
	require.NoError(t, p.Call(ctx, "echo", []any{map[string]any{"big": big, "list": []any{1.5, "é", []byte{0, 1}}}}, &echoed))
	assert.Equal(t, map[string]any{"big": big, "list": []any{1.5, "é", []byte{0, 1}}}, echoed)

	require.NoError(t, p.Send(ctx, "start"))
	select {
	case v := <-got:
		assert.Equal(t, "start", v)
	case <-time.After(10 * time.Second):
		t.Fatal("no message back")
	}

	assert.Equal(t, -1, p.ExitCode(), "running")
	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "Close is idempotent")
	require.NoError(t, p.Wait())
	assert.Equal(t, 0, p.ExitCode())
	assert.ErrorIs(t, p.Call(ctx, "add", []any{1, 2}, nil), ErrClosed)
	assert.ErrorIs(t, p.Send(ctx, 1), ErrClosed)
}

func TestRemoteErrors(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	p := start(t, child("serve"))

	err := p.Call(ctx, "fail", []any{"bad value"}, nil)
	var re *RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "fail", re.Method)
	assert.Equal(t, "ValueError", re.Type)
	assert.Equal(t, "bad value", re.Message)
	assert.Equal(t, "helper traceback", re.Traceback)

	err = p.Call(ctx, "no_such_method", nil, nil)
	require.ErrorAs(t, err, &re)
	assert.Equal(t, protocol.TypeMethodNotFound, re.Type)
	assert.Contains(t, re.Message, `"no_such_method"`)

	// A result that does not fit the Go type is an error of the call, not of the process.
	var n int
	err = p.Call(ctx, "echo", []any{"text"}, &n)
	requireContains(t, err, `call "echo": decoding the result`)
	require.NoError(t, p.Call(ctx, "echo", []any{1}, &n))

	// Params that are not a list are refused before anything is sent.
	requireContains(t, p.Call(ctx, "echo", 5, nil), "params must encode as an array")
	require.NoError(t, p.Close())
}

func TestManyCallsInFlightAnsweredOutOfOrder(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	p := start(t, child("serve"))
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var got string
			// later calls sleep less, so answers come back in another order
			if err := p.Call(ctx, "sleep", []any{(n - i) * 4}, &got); err != nil {
				errs <- err
				return
			}
			var echo int
			if err := p.Call(ctx, "echo", []any{i}, &echo); err != nil || echo != i {
				errs <- fmt.Errorf("echo %d: got %d, %v", i, echo, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	require.NoError(t, p.Close())
}

func TestCancelSendsCancelToTheChild(t *testing.T) {
	checkNoLeaks(t)
	cancelled := make(chan int64, 1)
	p := start(t, child("serve"), OnNotification("cancelled", func(a Args) {
		var ms int64
		_ = a.Decode(&ms)
		cancelled <- ms
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := p.Call(ctx, "sleep", []any{60000}, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	select {
	case ms := <-cancelled:
		assert.Equal(t, int64(60000), ms)
	case <-time.After(10 * time.Second):
		t.Fatal("the child never saw $cancel")
	}
	// The late CancelledError response was dropped; the connection is fine.
	var n int
	require.NoError(t, p.Call(context.Background(), "add", []any{1, 1}, &n))
	assert.Equal(t, 2, n)
	require.NoError(t, p.Close())
}

func TestChildCallsHost(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	p := start(t, child("serve"),
		WithHandler("mul", func(ctx context.Context, a Args) (any, error) {
			var x, y int
			if err := a.Decode(&x, &y); err != nil {
				return nil, err
			}
			return x * y, nil
		}),
		WithHandler("refuse", func(ctx context.Context, a Args) (any, error) {
			return nil, NewError("QuotaExceeded", "no more", map[string]any{"limit": 3})
		}),
		WithHandler("explode", func(ctx context.Context, a Args) (any, error) { panic("boom") }),
	)
	var got int
	require.NoError(t, p.Call(ctx, "call_host", []any{"mul", []any{6, 7}}, &got))
	assert.Equal(t, 42, got)

	err := p.Call(ctx, "call_host", []any{"refuse", []any{}}, nil)
	requireContains(t, err, "QuotaExceeded", "no more")
	err = p.Call(ctx, "call_host", []any{"explode", []any{}}, nil)
	requireContains(t, err, "panic", "boom")
	err = p.Call(ctx, "call_host", []any{"missing", []any{}}, nil)
	requireContains(t, err, "MethodNotFound", `"missing"`)

	p.Handle("late", func(ctx context.Context, a Args) (any, error) { return "here", nil })
	var s string
	require.NoError(t, p.Call(ctx, "call_host", []any{"late", []any{}}, &s))
	assert.Equal(t, "here", s)
	require.NoError(t, p.Close())
}

func TestChildExitFailsCallsInFlight(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	p := start(t, child("serve"))
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = p.Call(ctx, "sleep", []any{60000}, nil)
		}(i)
	}
	eventually(t, "calls in flight", func() bool { return p.InFlight() == 5 })
	err := p.Call(ctx, "exit", []any{7}, nil)
	var ee *ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 7, ee.Code)
	assert.Contains(t, ee.Stderr, "exiting with 7 on request")
	assert.ErrorIs(t, err, ErrExited)
	wg.Wait()
	for _, err := range errs {
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, 7, ee.Code)
	}
	assert.ErrorAs(t, p.Wait(), &ee)
	assert.Equal(t, 7, p.ExitCode())
	assert.ErrorAs(t, p.Call(ctx, "echo", []any{1}, nil), &ee, "later calls get the same error")
}

func TestKillFailsCallsWithTheSignal(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	p := start(t, child("serve"))
	done := make(chan error)
	go func() { done <- p.Call(ctx, "sleep", []any{60000}, nil) }()
	eventually(t, "call in flight", func() bool { return p.InFlight() == 1 })
	require.NoError(t, p.Kill())
	err := <-done
	var ee *ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, syscall.SIGKILL, ee.Signal)
	assert.Contains(t, err.Error(), "killed by signal 9")
}

func TestStartFailures(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	cases := []struct {
		name  string
		argv  []string
		opts  []Option
		check func(t *testing.T, err error)
	}{
		{"missing executable", []string{"/no/such/interpreter", "x.py"}, nil, func(t *testing.T, err error) {
			var se *StartError
			require.ErrorAs(t, err, &se)
			assert.ErrorIs(t, err, os.ErrNotExist)
			assert.Contains(t, err.Error(), "/no/such/interpreter")
		}},
		{"missing directory", child("serve"), []Option{WithDir("/no/such/dir")}, func(t *testing.T, err error) {
			var se *StartError
			require.ErrorAs(t, err, &se)
			assert.ErrorIs(t, err, os.ErrNotExist)
			// The kernel's chdir fails with ENOENT, which os/exec reports against the
			// executable: the error must name the directory, not blame the interpreter.
			assert.Contains(t, err.Error(), "the working directory (WithDir) stat /no/such/dir")
		}},
		{"command is a directory", []string{"/tmp"}, nil, func(t *testing.T, err error) {
			var se *StartError
			require.ErrorAs(t, err, &se)
			assert.Contains(t, err.Error(), "permission denied (/tmp is a directory, not a program)")
		}},
		{"a script without its interpreter, not in PATH", []string{"worker_not_in_path.py"}, nil, func(t *testing.T, err error) {
			var se *StartError
			require.ErrorAs(t, err, &se)
			assert.ErrorIs(t, err, exec.ErrNotFound)
			assert.Contains(t, err.Error(), "(worker_not_in_path.py is a script: start it with its interpreter, such as python3 worker_not_in_path.py)")
		}},
		{"a script without its interpreter, not executable", []string{"./worker.php"}, []Option{WithDir(scriptDir(t, "worker.php", 0o644))}, func(t *testing.T, err error) {
			var se *StartError
			require.ErrorAs(t, err, &se)
			assert.ErrorIs(t, err, os.ErrPermission)
			assert.Contains(t, err.Error(), "(worker.php is a script: start it with its interpreter, such as php worker.php)")
		}},
		{"an executable without #!", []string{"./tool"}, []Option{WithDir(scriptDir(t, "tool", 0o755))}, func(t *testing.T, err error) {
			var se *StartError
			require.ErrorAs(t, err, &se)
			assert.Contains(t, err.Error(), "tool is not a program the kernel can run: start it with its interpreter, or give it a #! line")
		}},
		{"a #! line naming no interpreter", []string{"./tool"}, []Option{WithDir(scriptFile(t, "tool", "#!/no/such/python3 -u\nprint(1)\n"))}, func(t *testing.T, err error) {
			var se *StartError
			require.ErrorAs(t, err, &se)
			assert.ErrorIs(t, err, os.ErrNotExist)
			assert.Contains(t, err.Error(), "names /no/such/python3, which does not exist")
		}},
		{"a #! line with CRLF", []string{"./worker.py"}, []Option{WithDir(scriptFile(t, "worker.py", "#!/bin/sh\r\nexit 0\r\n"))}, func(t *testing.T, err error) {
			var se *StartError
			require.ErrorAs(t, err, &se)
			assert.ErrorIs(t, err, os.ErrNotExist)
			assert.Contains(t, err.Error(), `names "/bin/sh\r": the script has Windows (CRLF) line endings`)
		}},
		{"a #! line with CRLF, started through /bin/sh", []string{"./worker.py"}, []Option{
			WithDir(scriptFile(t, "worker.py", "#!/bin/sh\r\nexit 0\r\n")), WithRlimits(Rlimits{OpenFiles: 256})}, func(t *testing.T, err error) {
			// The shell would run it and exit 127 ("not found"), which a pool restarts for
			// ever: it is refused as execve refuses it.
			var se *StartError
			require.ErrorAs(t, err, &se)
			assert.Contains(t, err.Error(), "Windows (CRLF) line endings")
		}},
		{"directory is a file", child("serve"), []Option{WithDir("/etc/hostname")}, func(t *testing.T, err error) {
			var se *StartError
			require.ErrorAs(t, err, &se)
			assert.Contains(t, err.Error(), `the working directory (WithDir) "/etc/hostname" is not a directory`)
		}},
		{"dies before ready with a message", child("die_before_ready"), nil, func(t *testing.T, err error) {
			var ee *ExitError
			require.ErrorAs(t, err, &ee)
			assert.Equal(t, 3, ee.Code)
			assert.Contains(t, err.Error(), "before $ready")
			assert.Contains(t, err.Error(), "fatal: cannot load model weights.bin")
		}},
		{"never sends ready", child("no_ready"), []Option{WithStartTimeout(300 * time.Millisecond)}, func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrStartTimeout)
			assert.Contains(t, err.Error(), "sent no $ready within 300ms")
		}},
		{"half a ready, then nothing", child("half_ready"), []Option{WithStartTimeout(300 * time.Millisecond)}, func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrStartTimeout) // not "truncated frame": the stream has not ended
			assert.Contains(t, err.Error(), "sent no $ready within 300ms")
		}},
		{"garbage instead of ready", child("garbage"), nil, func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrProtocol)
			assert.ErrorIs(t, err, protocol.ErrFrameTooLarge)
			assert.Contains(t, err.Error(), "Hello, I am printing to stdout")
			assert.Contains(t, err.Error(), "something wrote to stdout")
		}},
		{"another protocol version", child("wrong_version"), nil, func(t *testing.T, err error) {
			var ve *VersionError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, 2, ve.Child)
			assert.Contains(t, err.Error(), "speaks polyfork protocol 2; this host speaks [1]")
		}},
		{"ready without a map", child("bad_ready"), nil, func(t *testing.T, err error) {
			requireContains(t, err, "$ready params must be", "not a map")
		}},
		{"a request before ready", child("request_first"), nil, func(t *testing.T, err error) {
			requireContains(t, err, "the first message must be the $ready notification, got a request \"hello\"")
		}},
		{"empty command", nil, nil, func(t *testing.T, err error) {
			requireContains(t, err, "the command is empty")
		}},
		{"bad option", child("serve"), []Option{WithMaxFrameSize(1), WithEnv("NOEQUALS")}, func(t *testing.T, err error) {
			requireContains(t, err, "WithMaxFrameSize: 1 is outside", `WithEnv: "NOEQUALS" is not KEY=value`)
			assert.ErrorIs(t, err, ErrInvalidOption)
			var oe *OptionError
			require.ErrorAs(t, err, &oe)
			assert.Equal(t, "WithMaxFrameSize", oe.Option)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Start(ctx, c.argv, append([]Option{WithStderr(nil)}, c.opts...)...)
			require.Nil(t, p)
			c.check(t, err)
		})
	}
}

func TestStartContextCancel(t *testing.T) {
	for _, mode := range []string{"no_ready", "half_ready"} {
		t.Run(mode, func(t *testing.T) {
			checkNoLeaks(t)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			_, err := Start(ctx, child(mode), WithStderr(nil))
			require.ErrorIs(t, err, context.DeadlineExceeded)
		})
	}
}

func TestProtocolViolationsAfterReady(t *testing.T) {
	checkNoLeaks(t)
	cases := []struct {
		name string
		argv []string
		want []string
	}{
		{"stray print", child("garbage_after_ready"), []string{"oops, a stray print", "something wrote to stdout"}},
		{"length prefix 0xFFFFFFFF", child("huge_prefix"), []string{"frame length 4294967295 is above the maximum frame size 67108864"}},
		{"half a frame then exit", child("half_frame"), []string{"truncated frame: the stream ended after 10 of 100 body bytes"}},
		{"half a frame, a failed write, then exit", child("half_frame_stdin_closed"), []string{"truncated frame: the stream ended after 10 of 100 body bytes"}},
		{"array32 bomb", child("bomb", "ddffffffff"), []string{"array of 4294967295 elements cannot fit"}},
		{"map32 bomb", child("bomb", "9302a76d657373616765dfffffffff"), []string{"map of 4294967295 pairs cannot fit"}},
		{"map32 bomb inside params", child("bomb", "9302a76d65737361676591dfffffffff"), []string{"map of 4294967295 pairs cannot fit"}},
		{"str32 bomb", child("bomb", "9302a76d65737361676591dbffffffff"), []string{"str length 4294967295 is larger than"}},
		{"deep nesting", child("bomb", strings.Repeat("91", 20000)+"c0"), []string{"containers nest deeper than 128 levels"}},
		{"not msgpack-rpc", child("not_rpc"), []string{"message kind must be 0, 1 or 2, got 5"}},
		{"response to nothing", child("unknown_response"), []string{"a response for id 999, which is not a request in flight"}},
		{"closes stdout and lives on", child("close_stdout"), []string{"closed its channel but kept running"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Start(context.Background(), c.argv, WithStderr(nil), WithGracePeriods(300*time.Millisecond, 300*time.Millisecond))
			require.NoError(t, err)
			err = p.Call(context.Background(), "sleep", []any{60000}, nil)
			require.ErrorIs(t, err, ErrProtocol, "got %v", err)
			var pe *ProtocolError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, p.Pid(), pe.Pid)
			requireContains(t, err, c.want...)
			assert.ErrorIs(t, p.Wait(), ErrProtocol)
			assert.False(t, alive(p.Pid()))
		})
	}
}

func TestCloseEscalates(t *testing.T) {
	checkNoLeaks(t)
	p := start(t, child("ignore_term"), WithGracePeriods(200*time.Millisecond, 200*time.Millisecond))
	err := p.Close()
	var ee *ExitError
	require.ErrorAs(t, err, &ee, "a child that ignores $stop and SIGTERM is killed")
	assert.Equal(t, syscall.SIGKILL, ee.Signal)
}

func TestCloseKillsGrandchildren(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	p := start(t, child("serve"))
	var gc int
	require.NoError(t, p.Call(ctx, "spawn_grandchild", nil, &gc))
	require.True(t, alive(gc))
	require.NoError(t, p.Close())
	eventually(t, "the grandchild is gone", func() bool { return !alive(gc) })
}

func TestCrashKillsGrandchildren(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	p := start(t, child("serve"))
	var gc int
	require.NoError(t, p.Call(ctx, "spawn_grandchild", nil, &gc))
	_ = p.Call(ctx, "exit", []any{1}, nil)
	require.Error(t, p.Wait())
	eventually(t, "the grandchild is gone", func() bool { return !alive(gc) })
}

func TestHostKilledLeavesNothing(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "-bridge-test-host")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var child, grandchild int
	_, err = fmt.Fscan(out, &child, &grandchild)
	require.NoError(t, err)
	require.True(t, alive(child))
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	eventually(t, "the child is gone after its host was killed", func() bool { return !alive(child) })
	// The grandchild was in the child's process group but has no parent-death signal of its
	// own; the child's exit on stdin EOF does not take it along, so this documents what a
	// SIGKILLed host can and cannot clean up.
	if alive(grandchild) {
		t.Logf("grandchild %d outlived a SIGKILLed host; killing it", grandchild)
		_ = syscall.Kill(grandchild, syscall.SIGKILL)
	}
}

func TestStderrIsRelayedWithNameAndPid(t *testing.T) {
	checkNoLeaks(t)
	var sink syncBuffer
	p, err := Start(context.Background(), child("spam_stderr", "30"), WithStderr(&sink), WithName("spammer"))
	require.NoError(t, err)
	require.NoError(t, p.Call(context.Background(), "stderr", []any{"from a call"}, nil))
	require.NoError(t, p.Close())
	out := sink.String()
	prefix := "spammer[" + strconv.Itoa(p.Pid()) + "] "
	assert.Contains(t, out, prefix+"line 0\n")
	assert.Contains(t, out, prefix+"line 29\n")
	assert.Contains(t, out, prefix+"no newline at the endfrom a call\n")
	tail := p.StderrTail()
	assert.LessOrEqual(t, len(tail), 20)
	assert.Equal(t, "no newline at the endfrom a call", tail[len(tail)-1])

	var lines []LogLine
	var mu sync.Mutex
	p, err = Start(context.Background(), child("spam_stderr", "3"), WithLogFunc(func(l LogLine) {
		mu.Lock()
		lines = append(lines, l)
		mu.Unlock()
	}))
	require.NoError(t, err)
	require.NoError(t, p.Close())
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(lines), 4)
	assert.Equal(t, LogLine{Name: "bridge.test", Pid: p.Pid(), Stream: "stderr", Text: "line 0"}, lines[0])
}

func TestChildClosingStdinIsStopped(t *testing.T) {
	checkNoLeaks(t)
	p := start(t, child("close_stdin"), WithGracePeriods(200*time.Millisecond, 200*time.Millisecond))
	// The child closed its stdin and then sees EOF on it, so it exits 0; either way the call
	// fails with what happened and nothing hangs.
	err := p.Call(context.Background(), "echo", []any{1}, nil)
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrExited) || errors.Is(err, ErrProtocol), "got %v", err)
}

func TestLargeMessages(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	p := start(t, child("serve"))
	var b []byte
	require.NoError(t, p.Call(ctx, "big", []any{8 << 20}, &b))
	assert.Len(t, b, 8<<20)
	payload := strings.Repeat("é", 3<<20)
	var s string
	require.NoError(t, p.Call(ctx, "echo", []any{payload}, &s))
	assert.Equal(t, payload, s)
	require.NoError(t, p.Close())
}

func TestMaxFrameSize(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	p := start(t, child("serve"), WithMaxFrameSize(1024))
	err := p.Call(ctx, "echo", []any{strings.Repeat("x", 2000)}, nil)
	require.ErrorIs(t, err, protocol.ErrFrameTooLarge, "too big to send: refused, the process lives on")
	require.NoError(t, p.Call(ctx, "echo", []any{"small"}, nil))
	err = p.Call(ctx, "big", []any{5000}, nil)
	require.ErrorIs(t, err, ErrProtocol, "too big to receive: the child broke the limit it was told")
	require.ErrorIs(t, err, protocol.ErrFrameTooLarge)
}

func TestSendAndCloseFinishWhenTheChildStopsReading(t *testing.T) {
	checkNoLeaks(t)
	p := start(t, child("deaf"), WithGracePeriods(200*time.Millisecond, 200*time.Millisecond))
	big := make([]byte, 1<<20)
	var sent int
	for i := 0; i < 32; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := p.Send(ctx, big)
		cancel()
		if err != nil {
			require.ErrorIs(t, err, context.DeadlineExceeded)
			break
		}
		sent++
	}
	assert.Less(t, sent, 32, "Send gives up at its deadline instead of queueing without bound")
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	select {
	case err := <-closed:
		var ee *ExitError
		require.ErrorAs(t, err, &ee, "a child that reads nothing is ended by the signals")
	case <-time.After(20 * time.Second):
		t.Fatal("Close hung on a child that stopped reading")
	}
	assert.False(t, alive(p.Pid()))
}

func TestStopClosesInputForAChildThatOnlyWatchesEndOfFile(t *testing.T) {
	checkNoLeaks(t)
	var logs syncBuffer
	p, err := Start(context.Background(), child("eof_only"), WithStderr(&logs), WithName("minimal"))
	require.NoError(t, err)
	require.NoError(t, p.Close(), "it exits 0 at end of input, before any signal")
	assert.Equal(t, 0, p.ExitCode())
	assert.Contains(t, logs.String(), "minimal["+strconv.Itoa(p.Pid())+"] buffered until exit",
		"what it wrote on its way out was relayed")
}

func TestUnsendableCallsLeaveTheChildUp(t *testing.T) {
	checkNoLeaks(t)
	p := start(t, child("serve"))
	ctx := context.Background()
	for name, err := range map[string]error{
		"method not UTF-8": p.Call(ctx, "\xff", nil, nil),
		"params 200 deep":  p.Call(ctx, "echo", []any{deepList(200)}, nil),
		"message 200 deep": p.Send(ctx, deepList(200)),
	} {
		require.ErrorIs(t, err, ErrUnsendable, name)
	}
	var n int
	require.NoError(t, p.Call(ctx, "add", []any{1, 2}, &n))
	assert.Equal(t, 3, n)
	require.NoError(t, p.Close())
}

func TestChannelOnDescriptors(t *testing.T) {
	checkNoLeaks(t)
	var logs syncBuffer
	p := start(t, child("serve_fds"), WithChannel(ChannelFDs), WithStderr(&logs), WithName("fdchild"))
	ctx := context.Background()
	var n int
	require.NoError(t, p.Call(ctx, "add", []any{2, 3}, &n))
	assert.Equal(t, 5, n)
	var v any
	require.NoError(t, p.Call(ctx, "env", []any{protocol.EnvChannelFDs}, &v))
	assert.Equal(t, "3,4", v)
	require.NoError(t, p.Close())
	assert.Contains(t, logs.String(), "fdchild["+strconv.Itoa(p.Pid())+"] a print to stdout, which is only a log in this mode")
}

func TestChildInheritsNoStrayDescriptor(t *testing.T) {
	checkNoLeaks(t)
	// A descriptor opened without close-on-exec, as C code or an old library would.
	fd, err := syscall.Open(os.DevNull, syscall.O_RDONLY, 0)
	require.NoError(t, err)
	defer syscall.Close(fd)
	p := start(t, child("serve"))
	var fds []int
	require.NoError(t, p.Call(context.Background(), "fds", nil, &fds))
	assert.NotContains(t, fds, fd, "the child sees only 0, 1, 2 and what the runtime opens itself")
	require.NoError(t, p.Close())
}

func TestCleanEnvironment(t *testing.T) {
	checkNoLeaks(t)
	t.Setenv("POLYFORK_TEST_SECRET", "s3cret")
	p := start(t, child("serve"), WithCleanEnv("PATH"), WithEnv("GIVEN=yes"))
	ctx := context.Background()
	var v any
	require.NoError(t, p.Call(ctx, "env", []any{"POLYFORK_TEST_SECRET"}, &v))
	assert.Nil(t, v)
	require.NoError(t, p.Call(ctx, "env", []any{"GIVEN"}, &v))
	assert.Equal(t, "yes", v)
	require.NoError(t, p.Call(ctx, "env", []any{"PATH"}, &v))
	assert.NotNil(t, v)
	require.NoError(t, p.Close())
}

func TestReportWorkerNamesWhoRanTheCall(t *testing.T) {
	checkNoLeaks(t)
	p := start(t, child("serve"), WithName("named"))
	var w Worker
	require.NoError(t, p.Call(context.Background(), "pid", nil, nil, ReportWorker(&w)))
	assert.Equal(t, Worker{Name: "named", Pid: p.Pid()}, w)
	require.NoError(t, p.Close())
}

// DefaultName is the name a child takes without WithName: the last script, else the
// executable, so that logs say compute.js rather than node.
func TestDefaultName(t *testing.T) {
	for want, argv := range map[string][]string{
		"compute.js": {"node", "--require", "register.js", "compute.js", "--port", "3"},
		"worker.py":  {"/usr/bin/python3", "-X", "dev", "/srv/app/worker.py"},
		"server":     {"/opt/bin/server", "-v"},
		"python3":    {"python3", "-c", "print(1)", "--x.py"},
		"":           nil,
	} {
		assert.Equal(t, want, DefaultName(argv), "%q", argv)
	}
}

// scriptDir returns a new directory holding a file name of mode perm, a script with no #!
// line.
func scriptDir(t *testing.T, name string, perm os.FileMode) string {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("echo hi\n"), perm))
	return dir
}

// scriptFile returns a new directory holding an executable file name with content.
func scriptFile(t *testing.T, name, content string) string {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o755))
	return dir
}
