package bridge

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/stretchr/testify/require"
)

// raw returns the argv of rawchild.py in mode.
func raw(mode string, args ...string) []string {
	return append([]string{testutil.Python(), filepath.Join("testdata", "rawchild.py"), mode}, args...)
}

// syncBuffer is a goroutine-safe buffer for stderr sinks.
type syncBuffer = testutil.Buffer

// eventually polls cond until it holds or 10 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, what, cond)
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
