package bridge

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/polyfork/polyfork/protocol"
)

// helperChild is the test binary playing a child: well-behaved ("serve") or misbehaving on
// purpose, in ways a client library never would. It writes raw frames where a mode must
// break the rules.
func helperChild(mode string, args []string) {
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	out := os.Stdout
	raw := func(b []byte) { _, _ = out.Write(b) }
	send := func(frame []byte, err error) {
		if err != nil {
			panic(err)
		}
		raw(frame)
	}
	enc := protocol.NewEncoder()
	ready := func(version int) {
		send(enc.Notification(protocol.MethodReady, []any{map[string]any{
			"protocol": version, "lang": "go-test", "pid": os.Getpid(), "lib": "helperchild"}}))
	}
	switch mode {
	case "serve":
		serveHelper(os.Stdin, os.Stdout)
	case "serve_fds":
		serveHelperFDs()
	case "touch": // leaves a file named after its pid in the directory arg, then serves
		_ = os.WriteFile(filepath.Join(arg(0), strconv.Itoa(os.Getpid())), nil, 0o600)
		serveHelper(os.Stdin, os.Stdout)
	case "flaky": // serves, unless the file arg exists: then dies before $ready, like a broken deploy
		if _, err := os.Stat(arg(0)); err == nil {
			fmt.Fprintf(os.Stderr, "flaky: %s exists, refusing to start\n", arg(0))
			os.Exit(2)
		}
		serveHelper(os.Stdin, os.Stdout)
	case "garbage":
		raw([]byte("Hello, I am printing to stdout like a normal program\n"))
		sleepForever()
	case "garbage_after_ready":
		ready(1)
		raw([]byte("oops, a stray print\n"))
		sleepForever()
	case "huge_prefix":
		ready(1)
		raw([]byte{0xff, 0xff, 0xff, 0xff})
		sleepForever()
	case "half_frame":
		ready(1)
		raw(append([]byte{0, 0, 0, 100, 0x94, 0x01, 0x01, 0xc0}, make([]byte, 6)...))
		os.Exit(0)
	case "flood_exit", "flood_half_exit":
		// arg(0) messages, more than the host's handlers keep up with, then exit at once;
		// flood_half_exit closes its input first (the host's next write fails) and ends
		// with half a frame.
		if mode == "flood_half_exit" {
			os.Stdin.Close()
		}
		ready(1)
		n, _ := strconv.Atoi(arg(0))
		for i := 0; i < n; i++ {
			send(enc.Notification(protocol.MethodMessage, []any{i}))
		}
		if mode == "flood_half_exit" {
			raw(append([]byte{0, 0, 0, 100, 0x94, 0x01, 0x01, 0xc0}, make([]byte, 6)...))
		}
		syscall.Exit(0) // at once: os.Exit under -race sleeps a second first
	case "flood_exit_once": // the first start sends arg(1) messages and exits at once; later starts serve
		if _, err := os.Stat(arg(0)); err == nil {
			serveHelper(os.Stdin, os.Stdout)
		}
		if err := os.WriteFile(arg(0), nil, 0o600); err != nil {
			panic(err)
		}
		ready(1)
		n, _ := strconv.Atoi(arg(1))
		for i := 0; i < n; i++ {
			send(enc.Notification(protocol.MethodMessage, []any{i}))
		}
		syscall.Exit(0) // at once: os.Exit under -race sleeps a second first
	case "half_frame_stdin_closed":
		// Half a frame, after closing its input, so that the host's next write fails; then
		// exit while a grandchild holds the channel a moment longer, so that the host finds
		// the failed write and the exit before the end of the channel.
		os.Stdin.Close()
		ready(1)
		raw(append([]byte{0, 0, 0, 100, 0x94, 0x01, 0x01, 0xc0}, make([]byte, 6)...))
		cmd := exec.Command("sleep", "0.3")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		cmd.Stdout = os.Stdout
		if err := cmd.Start(); err != nil {
			panic(err)
		}
		syscall.Exit(0) // at once: os.Exit under -race sleeps a second first (GORACE atexit_sleep_ms)
	case "bomb":
		ready(1)
		body, _ := hex.DecodeString(arg(0))
		raw(binary.BigEndian.AppendUint32(nil, uint32(len(body))))
		raw(body)
		sleepForever()
	case "not_rpc":
		ready(1)
		body, _ := protocol.Marshal([]any{5, "what", []any{}})
		raw(binary.BigEndian.AppendUint32(nil, uint32(len(body))))
		raw(body)
		sleepForever()
	case "no_ready":
		sleepForever()
	case "half_ready": // the start of a $ready, then nothing (a child stopped in a debugger)
		raw(append([]byte{0, 0, 0, 100, 0x93, 0x02}, "$rea"...))
		sleepForever()
	case "die_before_ready":
		fmt.Fprint(os.Stderr, "loading model...\nfatal: cannot load model weights.bin\n")
		os.Exit(3)
	case "wrong_version":
		ready(2)
		// wait for the host to stop us, as a child of another version would
		_, _ = bufio.NewReader(os.Stdin).ReadString(0)
		os.Exit(0)
	case "bad_ready":
		send(enc.Notification(protocol.MethodReady, []any{"not a map"}))
		sleepForever()
	case "request_first":
		send(enc.Request(1, "hello", nil))
		sleepForever()
	case "ignore_term":
		signal.Ignore(syscall.SIGTERM)
		ready(1)
		sleepForever()
	case "close_stdout":
		ready(1)
		os.Stdout.Close()
		sleepForever()
	case "close_stdin":
		ready(1)
		os.Stdin.Close()
		serveHelper(devNull(), os.Stdout)
	case "unknown_response":
		ready(1)
		send(enc.Result(999, "surprise"))
		sleepForever()
	case "exit_after_ready":
		ready(1)
		fmt.Fprintf(os.Stderr, "something went wrong, exiting with %s\n", arg(0))
		code, _ := strconv.Atoi(arg(0))
		os.Exit(code)
	case "spam_stderr":
		n, _ := strconv.Atoi(arg(0))
		w := bufio.NewWriter(os.Stderr)
		for i := 0; i < n; i++ {
			fmt.Fprintf(w, "line %d\n", i)
		}
		fmt.Fprint(w, "no newline at the end")
		w.Flush()
		serveHelper(os.Stdin, os.Stdout)
	case "count_messages": // counts the messages it gets, says how many at exit
		countMessages(os.Stdin, os.Stdout)
	case "close_stdin_stay": // closes its input and keeps running
		ready(1)
		os.Stdin.Close()
		sleepForever()
	case "serial_term0": // the same, stopping cleanly (exit 0) on SIGTERM, as servers with a handler do
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		go func() {
			<-term
			syscall.Exit(0) // at once: os.Exit under -race sleeps a second first
		}()
		serialize = true
		serveHelper(os.Stdin, os.Stdout)
	case "serial": // runs one request at a time, like a blocking PHP or a sync Python child
		serialize = true
		serveHelper(os.Stdin, os.Stdout)
	case "flood_no_read": // writes a burst of messages before it reads, as a blocking PHP loop does
		ready(1)
		n, _ := strconv.Atoi(arg(0))
		for i := 0; i < n; i++ {
			send(enc.Notification(protocol.MethodMessage, []any{string(make([]byte, 4096))}))
		}
		fmt.Fprintln(os.Stderr, "flood written")
		fr := protocol.NewFrameReader(os.Stdin)
		got := 0
		for {
			if _, err := fr.ReadFrame(); err != nil {
				break
			}
			got++
		}
		fmt.Fprintf(os.Stderr, "read %d frames\n", got)
		os.Exit(0)
	case "deaf":
		// It never reads its input again: whatever the host writes piles up.
		ready(1)
		sleepForever()
	case "eof_only":
		// A minimal child: it ignores $stop and exits at end of stdin, after writing what it
		// buffered, as a child written in a new language often does.
		ready(1)
		_, _ = bufio.NewReader(os.Stdin).ReadString(0) // until end of file; frames ignored
		fmt.Fprint(os.Stderr, "buffered until exit\n")
		os.Exit(0)
	case "die_on_stop":
		// It takes requests and answers none; $stop makes it crash on its way out.
		ready(1)
		fr := protocol.NewFrameReader(os.Stdin)
		for {
			frame, err := fr.ReadFrame()
			if err != nil {
				os.Exit(0)
			}
			if m, err := protocol.DecodeMessage(frame, 0); err == nil && m.Method == protocol.MethodStop {
				fmt.Fprint(os.Stderr, "crashing while stopping\n")
				os.Exit(3)
			}
		}
	case "stderr_flood":
		// One line of arg(0) MiB without a break, then arg(1) short lines; then it serves.
		mib, _ := strconv.Atoi(arg(0))
		lines, _ := strconv.Atoi(arg(1))
		w := bufio.NewWriterSize(os.Stderr, 1<<20)
		chunk := make([]byte, 1<<20)
		for i := range chunk {
			chunk[i] = 'x'
		}
		for i := 0; i < mib; i++ {
			_, _ = w.Write(chunk)
		}
		_ = w.WriteByte('\n')
		for i := 0; i < lines; i++ {
			fmt.Fprintf(w, "short line %d\n", i)
		}
		w.Flush()
		serveHelper(os.Stdin, os.Stdout)
	case "setsid_grandchild":
		// A grandchild that leaves the child's process group for a session of its own, as a
		// daemonizing program does; it holds the stderr pipe open, too.
		startSetsidGrandchild(os.Stderr, nil)
		serveHelper(os.Stdin, os.Stdout)
	case "setsid_stdout_grandchild":
		// The same, holding the channel (stdout) open: after the child's exit the host reads
		// no end of file until it gives up on the stream.
		startSetsidGrandchild(nil, os.Stdout)
		serveHelper(os.Stdin, os.Stdout)
	default:
		if fn := moreHelperModes[mode]; fn != nil {
			fn(args)
			return
		}
		if !helperListenChild(mode, args) { // helperlisten_test.go
			fmt.Fprintf(os.Stderr, "helperChild: unknown mode %q\n", mode)
			os.Exit(99)
		}
	}
}

func sleepForever() {
	for {
		time.Sleep(time.Hour)
	}
}

func devNull() *os.File {
	f, err := os.Open(os.DevNull)
	if err != nil {
		panic(err)
	}
	return f
}

// serveHelperFDs serves on the channel of POLYFORK_CHANNEL_FDS.
func serveHelperFDs() {
	var r, w int
	if _, err := fmt.Sscanf(os.Getenv(protocol.EnvChannelFDs), "%d,%d", &r, &w); err != nil {
		fmt.Fprintln(os.Stderr, "no channel descriptors:", err)
		os.Exit(2)
	}
	fmt.Println("a print to stdout, which is only a log in this mode")
	serveHelper(os.NewFile(uintptr(r), "in"), os.NewFile(uintptr(w), "out"))
}

// serveHelper serves the test handlers with the library's child role and exits 0 after a
// clean stop.
func serveHelper(in, out *os.File) {
	var connP atomic.Pointer[Conn]
	haveConn := make(chan struct{})
	// Requests can arrive as soon as $ready is out, before NewConn has returned.
	session := func() *Conn {
		<-haveConn
		return connP.Load()
	}
	stop := make(chan struct{}, 1)
	hog := [][]byte{}
	h := map[string]Handler{
		"echo": func(ctx context.Context, a Args) (any, error) { return a.Value(0) },
		"add": func(ctx context.Context, a Args) (any, error) {
			var x, y int64
			if err := a.Decode(&x, &y); err != nil {
				return nil, err
			}
			return x + y, nil
		},
		"fail": func(ctx context.Context, a Args) (any, error) {
			var msg string
			_ = a.Decode(&msg)
			return nil, &RemoteError{Type: "ValueError", Message: msg, Traceback: "helper traceback"}
		},
		"sleep": func(ctx context.Context, a Args) (any, error) {
			var ms int64
			_ = a.Decode(&ms)
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
				return "slept", nil
			case <-ctx.Done():
				_ = session().Notify(context.Background(), "cancelled", ms)
				return nil, ctx.Err()
			}
		},
		"block": func(ctx context.Context, a Args) (any, error) { // ignores cancellation
			var ms int64
			_ = a.Decode(&ms)
			time.Sleep(time.Duration(ms) * time.Millisecond)
			return "blocked", nil
		},
		"block_announced": func(ctx context.Context, a Args) (any, error) { // says it runs, then blocks
			var ms int64
			_ = a.Decode(&ms)
			_ = session().Send(context.Background(), "blocking")
			time.Sleep(time.Duration(ms) * time.Millisecond)
			return "blocked", nil
		},
		"call_host": func(ctx context.Context, a Args) (any, error) {
			var method string
			var params []any
			if err := a.Decode(&method, &params); err != nil {
				return nil, err
			}
			var res any
			err := session().Call(ctx, method, params, &res)
			return res, err
		},
		"call_host_many": func(ctx context.Context, a Args) (any, error) { // n calls to the host at once; how many failed
			var n int
			var method string
			if err := a.Decode(&n, &method); err != nil {
				return nil, err
			}
			var failed atomic.Int64
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if session().Call(ctx, method, []any{i}, nil) != nil {
						failed.Add(1)
					}
				}()
			}
			wg.Wait()
			return failed.Load(), nil
		},
		"pid": func(ctx context.Context, a Args) (any, error) { return os.Getpid(), nil },
		"exit": func(ctx context.Context, a Args) (any, error) {
			var code int
			_ = a.Decode(&code)
			fmt.Fprintf(os.Stderr, "exiting with %d on request\n", code)
			os.Exit(code)
			return nil, nil
		},
		"stderr": func(ctx context.Context, a Args) (any, error) {
			var s string
			_ = a.Decode(&s)
			fmt.Fprintln(os.Stderr, s)
			return true, nil
		},
		"spawn_grandchild": func(ctx context.Context, a Args) (any, error) {
			cmd := exec.Command("sleep", "1000")
			if err := cmd.Start(); err != nil {
				return nil, err
			}
			return cmd.Process.Pid, nil
		},
		"big": func(ctx context.Context, a Args) (any, error) {
			var n int
			_ = a.Decode(&n)
			return make([]byte, n), nil
		},
		"hog": func(ctx context.Context, a Args) (any, error) {
			var mib int
			_ = a.Decode(&mib)
			b := make([]byte, mib<<20)
			for i := range b {
				b[i] = 1
			}
			hog = append(hog, b)
			return len(hog), nil
		},
		"crash_if_first": func(ctx context.Context, a Args) (any, error) {
			var path string
			_ = a.Decode(&path)
			f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if errors.Is(err, os.ErrExist) {
				return "ok", nil
			}
			f.Close()
			os.Exit(1)
			return nil, nil
		},
		"env": func(ctx context.Context, a Args) (any, error) {
			var name string
			_ = a.Decode(&name)
			v, ok := os.LookupEnv(name)
			if !ok {
				return nil, nil
			}
			return v, nil
		},
		"fds": func(ctx context.Context, a Args) (any, error) {
			entries, err := os.ReadDir("/proc/self/fd")
			if err != nil {
				return nil, err
			}
			var fds []int
			for _, e := range entries {
				if n, err := strconv.Atoi(e.Name()); err == nil {
					fds = append(fds, n)
				}
			}
			return fds, nil
		},
	}
	opts := []Option{
		WithChildRole(ReadyInfo{Lang: "go-test", Lib: "helperchild"}, func() { stop <- struct{}{} }),
		OnMessage(func(v any) { _ = session().Send(context.Background(), v) }),
	}
	var one sync.Mutex
	for name, fn := range h {
		if serialize {
			inner := fn
			fn = func(ctx context.Context, a Args) (any, error) { one.Lock(); defer one.Unlock(); return inner(ctx, a) }
		}
		opts = append(opts, WithHandler(name, fn))
	}
	conn, err := NewConn(in, out, opts...)
	if err != nil {
		panic(err)
	}
	connP.Store(conn)
	close(haveConn)
	select {
	case <-stop:
		_ = conn.Drain(context.Background())
		_ = conn.Flush(context.Background())
		conn.Close()
	case <-conn.Done():
	}
	os.Exit(0)
}

// helperHost is this test binary playing a host that starts a child with a grandchild,
// prints their pids and waits to be killed.
func helperHost() {
	ctx := context.Background()
	p, err := Start(ctx, child("serve"), WithStderr(nil))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	var grandchild int
	if err := p.Call(ctx, "spawn_grandchild", nil, &grandchild); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(p.Pid(), grandchild)
	select {}
}

// serialize makes serveHelper run one request at a time.
var serialize bool

// countMessages serves nothing but counts the messages it gets; it reports the count on
// stderr when the session ends.
func countMessages(in, out *os.File) {
	var n atomic.Int64
	conn, err := NewConn(in, out,
		WithChildRole(ReadyInfo{Lang: "go-test", Lib: "helperchild"}, nil),
		OnMessage(func(v any) { n.Add(1) }))
	if err != nil {
		panic(err)
	}
	<-conn.Done()
	fmt.Fprintf(os.Stderr, "got %d messages; session ended with: %v\n", n.Load(), conn.Err())
	if errors.Is(conn.Err(), ErrProtocol) {
		os.Exit(1)
	}
	os.Exit(0)
}

// startSetsidGrandchild starts a grandchild in a session of its own, holding stderr and
// stdout (either may be nil), and puts its pid in GRANDCHILD_PID for the test to read.
func startSetsidGrandchild(stderr, stdout *os.File) {
	cmd := exec.Command("sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if stderr != nil {
		cmd.Stderr = stderr
	}
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	os.Setenv("GRANDCHILD_PID", strconv.Itoa(cmd.Process.Pid))
}
