package bridge

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// child returns the argv that starts this test binary as a child in mode.
func child(mode string, args ...string) []string {
	return append([]string{os.Args[0], childFlag, mode}, args...)
}

// syncBuffer is a goroutine-safe buffer for stderr sinks.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// eventually polls cond until it holds or 10 s pass. It bounds a wait; it is not a speed
// assertion.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	state, _, _, ok := procStat(pid)
	return ok && state != 'Z'
}

// children returns the pids whose parent is this process, zombies included.
func children() []int {
	var out []int
	me := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, _, ok := procStat(pid); ok && ppid == me {
			out = append(out, pid)
		}
	}
	return out
}

func openFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries)
}

// checkNoLeaks records the descriptors and goroutines now and, when the test ends, checks
// that no child process, descriptor or goroutine was left behind.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	fds := openFDs()
	goroutines := runtime.NumGoroutine()
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		eventually(t, "no child processes left", func() bool { return len(children()) == 0 })
		eventually(t, "descriptors back to where they were", func() bool { return openFDs() <= fds })
		eventually(t, "goroutines back to where they were", func() bool { return runtime.NumGoroutine() <= goroutines })
	})
}

func requireContains(t testing.TB, err error, parts ...string) {
	t.Helper()
	require.Error(t, err)
	for _, p := range parts {
		require.Contains(t, err.Error(), p)
	}
}

// start starts a child, discarding its stderr unless options say otherwise, and kills it
// when the test ends.
func start(t *testing.T, argv []string, opts ...Option) *Process {
	t.Helper()
	p, err := Start(context.Background(), argv, append([]Option{WithStderr(nil)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { p.Kill(); p.Wait() })
	return p
}

// deepList returns a value nested depth lists deep.
func deepList(depth int) any {
	var v any = "leaf"
	for i := 0; i < depth; i++ {
		v = []any{v}
	}
	return v
}
