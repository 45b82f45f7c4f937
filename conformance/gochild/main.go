// Command gochild is the Go client's conformance child (protocol/SPEC.md section 9): the
// handlers every client library serves with its public API, here bridge/child's.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"time"

	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/bridge/child"
	"golang.org/x/term"
)

// ConformanceError is the user-defined error class the SPEC's "fail" raises.
type ConformanceError struct{ msg string }

func (e *ConformanceError) Error() string     { return e.msg }
func (e *ConformanceError) ErrorType() string { return "ConformanceError" }

func main() {
	handle := func(name string, fn func(ctx context.Context, a bridge.Args) (any, error)) { child.Handle(name, fn) }
	handle("echo", func(ctx context.Context, a bridge.Args) (any, error) { return a.Value(0) })
	handle("add", func(ctx context.Context, a bridge.Args) (any, error) {
		var x, y int64
		if err := a.Decode(&x, &y); err != nil {
			return nil, err
		}
		return x + y, nil
	})
	handle("fail", func(ctx context.Context, a bridge.Args) (any, error) {
		var msg string
		_ = a.Decode(&msg)
		return nil, &ConformanceError{msg}
	})
	handle("sleep", func(ctx context.Context, a bridge.Args) (any, error) {
		var ms int64
		_ = a.Decode(&ms)
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			return "slept", nil
		case <-ctx.Done():
			_ = child.Notify(context.Background(), "cancelled", ms)
			return nil, ctx.Err()
		}
	})
	handle("call_host", func(ctx context.Context, a bridge.Args) (any, error) {
		var method string
		var params []any
		if err := a.Decode(&method, &params); err != nil {
			return nil, err
		}
		var res any
		err := child.Call(ctx, method, params, &res)
		return res, err
	})
	handle("print", func(ctx context.Context, a bridge.Args) (any, error) {
		var text string
		_ = a.Decode(&text)
		fmt.Println(text)
		log.New(os.Stdout, "", 0).Println(text)
		cmd := exec.Command("echo", text)
		cmd.Stdout = os.Stdout
		return true, cmd.Run()
	})
	handle("stderr", func(ctx context.Context, a bridge.Args) (any, error) {
		var text string
		_ = a.Decode(&text)
		fmt.Fprintln(os.Stderr, text)
		return true, nil
	})
	handle("exit", func(ctx context.Context, a bridge.Args) (any, error) {
		var code int
		_ = a.Decode(&code)
		os.Exit(code)
		return nil, nil
	})
	handle("pid", func(ctx context.Context, a bridge.Args) (any, error) { return os.Getpid(), nil })
	handle("isatty", func(ctx context.Context, a bridge.Args) (any, error) {
		return []bool{term.IsTerminal(0), term.IsTerminal(1), term.IsTerminal(2)}, nil
	})
	handle("write_fd1", func(ctx context.Context, a bridge.Args) (any, error) {
		var text string
		_ = a.Decode(&text)
		_, err := os.NewFile(1, "fd1").Write([]byte(text))
		return true, err
	})
	handle("env", func(ctx context.Context, a bridge.Args) (any, error) {
		var name string
		_ = a.Decode(&name)
		if v, ok := os.LookupEnv(name); ok {
			return v, nil
		}
		return nil, nil
	})
	handle("fds", func(ctx context.Context, a bridge.Args) (any, error) {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			return nil, err
		}
		fds := []int{}
		for _, e := range entries {
			if n, err := strconv.Atoi(e.Name()); err == nil {
				fds = append(fds, n)
			}
		}
		sort.Ints(fds)
		return fds, nil
	})
	handle("listeners", func(ctx context.Context, a bridge.Args) (any, error) {
		ls, err := child.Listeners()
		names := []string{}
		for _, l := range ls {
			names = append(names, l.Name)
		}
		return names, err
	})
	child.OnMessage(func(v any) {
		if err := child.Send(context.Background(), v); err != nil && !errors.Is(err, bridge.ErrClosed) {
			fmt.Fprintln(os.Stderr, "gochild: send:", err)
		}
	})
	if err := child.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "gochild:", err)
		os.Exit(1)
	}
}
