package bridge

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// python returns the interpreter the tests run children with.
func python() string {
	if p := os.Getenv("POLYFORK_PYTHON"); p != "" {
		return p
	}
	return "python3"
}

// raw returns the argv of rawchild.py in mode.
func raw(mode string, args ...string) []string {
	return append([]string{python(), filepath.Join("testdata", "rawchild.py"), mode}, args...)
}

// syncBuffer is a goroutine-safe bytes.Buffer for stderr sinks.
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

// eventually polls cond until it holds or 10 s pass. It is not a speed assertion: it only
// bounds how long a test waits for something that must happen.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// the state follows the parenthesised command name
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
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
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) > 1 {
			if ppid, _ := strconv.Atoi(fields[1]); ppid == me {
				out = append(out, pid)
			}
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
