//go:build linux

package bridge

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// childFDs returns what each descriptor of process pid is open on, read from /proc.
func childFDs(t *testing.T, pid int) map[int]string {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	fds := map[int]string{}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil {
			fds[fd] = target
		}
	}
	return fds
}

// TestHostDescriptorsStayInTheHost opens files in the host, one the Go way (close-on-exec)
// and one with a bare open(2) that leaves it inheritable, as C code or a careless library
// would, and checks that no child, in any mode, has either.
func TestHostDescriptorsStayInTheHost(t *testing.T) {
	dir := t.TempDir()
	goFile := filepath.Join(dir, "opened-by-go")
	rawFile := filepath.Join(dir, "opened-without-cloexec")
	require.NoError(t, os.WriteFile(goFile, nil, 0o600))
	require.NoError(t, os.WriteFile(rawFile, nil, 0o600))
	f, err := os.Open(goFile)
	require.NoError(t, err)
	defer f.Close()
	raw, err := syscall.Open(rawFile, syscall.O_RDONLY, 0) // no O_CLOEXEC
	require.NoError(t, err)
	defer syscall.Close(raw)

	modes := []struct {
		name  string
		argv  []string
		opts  []Option
		fixed map[int]string // descriptors the child must have, by what they are open on
	}{
		{"stdio", child("serve"), nil, map[int]string{0: "pipe:", 1: "pipe:", 2: "pipe:"}},
		{"fd", child("console"), []Option{WithChannel(ChannelFDs)},
			map[int]string{0: "/dev/null", 1: "pipe:", 2: "pipe:", 3: "pipe:", 4: "pipe:"}},
		{"console", child("console"), []Option{WithConsole(ConsoleOptions{})},
			map[int]string{0: "/dev/pts/", 1: "/dev/pts/", 2: "/dev/pts/", 3: "pipe:", 4: "pipe:"}},
		{"rlimits", child("console"), []Option{WithChannel(ChannelFDs), WithRlimits(Rlimits{OpenFiles: 64})},
			map[int]string{0: "/dev/null", 1: "pipe:", 2: "pipe:", 3: "pipe:", 4: "pipe:"}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			p := start(t, m.argv, m.opts...)
			fds := childFDs(t, p.Pid())
			for fd, target := range fds {
				assert.NotContains(t, target, dir, "descriptor %d of the child is the host's file", fd)
			}
			for fd, prefix := range m.fixed {
				assert.True(t, strings.HasPrefix(fds[fd], prefix), "descriptor %d is %q, want %s...", fd, fds[fd], prefix)
			}
		})
	}
}

func TestCleanEnvironmentAllowList(t *testing.T) {
	ctx := context.Background()
	t.Setenv("POLYFORK_TEST_SECRET", "hunter2")
	t.Setenv("POLYFORK_TEST_ALLOWED", "yes")
	env := func(p *Process, name string) any {
		var v any
		require.NoError(t, p.Call(ctx, "env", []any{name}, &v))
		return v
	}

	p := start(t, child("serve"))
	assert.Equal(t, "hunter2", env(p, "POLYFORK_TEST_SECRET"), "the host's environment by default")

	p = start(t, child("serve"), WithCleanEnv("POLYFORK_TEST_ALLOWED", "NOT_SET_ANYWHERE"), WithEnv("EXTRA=1"))
	assert.Nil(t, env(p, "POLYFORK_TEST_SECRET"))
	assert.Nil(t, env(p, "PATH"), "only what the allow-list names")
	assert.Nil(t, env(p, "NOT_SET_ANYWHERE"))
	assert.Equal(t, "yes", env(p, "POLYFORK_TEST_ALLOWED"))
	assert.Equal(t, "1", env(p, "EXTRA"))
	assert.Equal(t, "1", env(p, "POLYFORK_PROTOCOL"), "the protocol's variables are always set")

	_, err := Start(ctx, child("serve"), WithCleanEnv("A=B"))
	require.ErrorIs(t, err, ErrInvalidOption)
}

// limitsOf reads the limits of process pid from /proc: "Max open files" -> "64 64 files".
func limitsOf(t *testing.T, pid string) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/limits")
	require.NoError(t, err)
	return parseLimits(strings.Split(string(b), "\n"))
}

func parseLimits(lines []string) map[string]string {
	out := map[string]string{}
	for _, line := range lines {
		if !strings.HasPrefix(line, "Max ") || len(line) < 26 {
			continue
		}
		out[strings.TrimSpace(line[:26])] = strings.Join(strings.Fields(line[26:]), " ")
	}
	return out
}

func TestRlimitsAreSetBeforeTheProgramRuns(t *testing.T) {
	limits := Rlimits{AddressSpace: 3 << 30, CPUTime: 1500 * time.Millisecond, OpenFiles: 77, Processes: 4321}
	want := map[string]string{
		"Max address space": "3221225472 3221225472 bytes",
		"Max cpu time":      "2 2 seconds", // rounded up
		"Max open files":    "77 77 files",
		"Max processes":     "4321 4321 processes",
	}
	// The program's very first act is to read its limits: they are already there.
	_, err := Start(context.Background(), []string{"sh", "-c", "cat /proc/self/limits >&2; exit 3"},
		WithStderr(nil), WithRlimits(limits))
	var ee *ExitError
	require.ErrorAs(t, err, &ee)
	got := parseLimits(ee.Stderr)
	for k, v := range want {
		assert.Equal(t, v, got[k], k)
	}

	// A polyfork child with limits, and a console, serves as usual.
	p := start(t, child("console"), WithConsole(ConsoleOptions{}), WithRlimits(limits))
	got = limitsOf(t, strconv.Itoa(p.Pid()))
	for k, v := range want {
		assert.Equal(t, v, got[k], k)
	}
	var tty []bool
	require.NoError(t, p.Call(context.Background(), "isatty", nil, &tty))
	assert.Equal(t, []bool{true, true, true}, tty)

	// The shell execs the program: the pid is the program's.
	p = start(t, child("serve"), WithRlimits(Rlimits{OpenFiles: 100}))
	var pid int
	require.NoError(t, p.Call(context.Background(), "pid", nil, &pid))
	assert.Equal(t, p.Pid(), pid)
	assert.Equal(t, p.Pid(), p.Ready().Pid)
}

func TestRlimitOptionErrors(t *testing.T) {
	for _, l := range []Rlimits{{OpenFiles: -1}, {CPUTime: -time.Second}, {AddressSpace: 4096}} {
		_, err := Start(context.Background(), child("serve"), WithRlimits(l))
		require.ErrorIs(t, err, ErrInvalidOption, "%+v", l)
		assert.Contains(t, err.Error(), "WithRlimits")
	}
}

func TestUlimitScript(t *testing.T) {
	assert.Equal(t, "", ulimitScript(Rlimits{}))
	assert.Equal(t, "ulimit -v 1024 && ulimit -t 1 && ulimit -n 10 && { ulimit -u 5 2>/dev/null || ulimit -p 5; }",
		ulimitScript(Rlimits{AddressSpace: 1<<20 + 1023, CPUTime: time.Millisecond, OpenFiles: 10, Processes: 5}))
}

func TestRlimitThatCannotBeSetFailsTheStart(t *testing.T) {
	// More descriptors than Linux allows anyone (fs.nr_open is at most 2^30 - 8).
	_, err := Start(context.Background(), child("serve"), WithStderr(nil), WithRlimits(Rlimits{OpenFiles: 1 << 30}))
	var ee *ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 126, ee.Code)
	assert.Contains(t, ee.Stderr, "polyfork: the resource limits cannot be set")
	assert.Contains(t, strings.Join(ee.Stderr, "\n"), "polyfork-rlimits")
}

// The longest CPUTime (math.MaxInt64, "no limit that matters") is rounded up without
// overflowing: the rounding's sum wrapped negative, and every start failed with
// "ulimit: Illegal option -9".
func TestRlimitOfTheLongestCPUTime(t *testing.T) {
	assert.Equal(t, "ulimit -t 9223372037", ulimitScript(Rlimits{CPUTime: math.MaxInt64}))
	p := start(t, child("serve"), WithRlimits(Rlimits{CPUTime: math.MaxInt64}))
	var n int
	require.NoError(t, p.Call(context.Background(), "add", []any{1, 2}, &n))
	assert.Equal(t, 3, n)
	assert.Equal(t, "9223372037 9223372037 seconds", limitsOf(t, strconv.Itoa(p.Pid()))["Max cpu time"])
}
