package bridge

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestStartAtTheDescriptorLimitSaysSo: a host whose descriptors are all in use (ulimit -n
// reached) cannot create a child's pipes. The start error keeps EMFILE and names the limit;
// it said "cannot create pipes (out of file descriptors?)", the reason guessed and lost.
// Nothing is left open.
func TestStartAtTheDescriptorLimitSaysSo(t *testing.T) {
	checkNoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var old syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old))
	lowest, err := syscall.Dup(0) // the lowest free descriptor
	require.NoError(t, err)
	require.NoError(t, syscall.Close(lowest))
	limited := old
	limited.Cur = uint64(lowest)
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limited))
	p, err := Start(ctx, child("serve"), WithStderr(nil))
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old))
	if err == nil {
		p.Kill()
	}
	var se *StartError
	require.ErrorAs(t, err, &se)
	assert.ErrorIs(t, err, syscall.EMFILE)
	assert.Contains(t, err.Error(), "cannot create pipes: pipe2: too many open files (this process has as many descriptors open as its limit allows: raise ulimit -n (RLIMIT_NOFILE)")
}

// TestStartWithAnEnvironmentTooLargeSaysWhich: a variable above the 128 KiB Linux takes for
// one string (a configuration passed with WithEnv), or an environment too large in all,
// makes execve fail with E2BIG, "argument list too long". The start error names the
// variable and its size, or the total; it named neither.
func TestStartWithAnEnvironmentTooLargeSaysWhich(t *testing.T) {
	checkNoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	many := make([]string, 100) // 10 MB: Linux never takes more than 6 MB
	for i := range many {
		many[i] = "PART" + strconv.Itoa(i) + "=" + strings.Repeat("y", 100<<10)
	}
	for _, c := range []struct {
		env  []string
		want string
	}{
		{[]string{"CONFIG=" + strings.Repeat("x", 200<<10)}, "the environment variable CONFIG is 204807 bytes, above the 131071 bytes the system takes for one argument or environment string"},
		{many, "the child's arguments and environment come to about"},
	} {
		p, err := Start(ctx, child("serve"), WithStderr(nil), WithEnv(c.env...))
		if err == nil {
			p.Kill()
		}
		var se *StartError
		require.ErrorAs(t, err, &se)
		assert.ErrorIs(t, err, syscall.E2BIG)
		assert.Contains(t, err.Error(), c.want)
	}
}

// TestAChildShortOfAddressSpaceIsToldSo: a child given too little address space
// (WithRlimits) dies in ways that do not say so: Node of a segmentation fault with nothing
// on stderr, Python unable to map a shared library (status 127), this test binary of Go's
// "out of memory". The error names the limit; it named only the signal or status.
func TestAChildShortOfAddressSpaceIsToldSo(t *testing.T) {
	checkNoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := Start(ctx, child("serve"), WithStderr(nil), WithRlimits(Rlimits{AddressSpace: 16 << 20}))
	if err == nil {
		p.Kill()
	}
	var ee *ExitError
	require.ErrorAs(t, err, &ee)
	assert.Contains(t, err.Error(), "before $ready, under an address space limit of 16 MiB (WithRlimits, -rlimit-as)")

	// Ends that a lack of memory does not explain get no such note.
	for _, e := range []*ExitError{{Signal: syscall.SIGKILL}, {Signal: syscall.SIGTERM}, {Code: 1}, {Code: 0, Phase: "before $ready"}} {
		e.addressSpace = 16 << 20
		assert.NotContains(t, e.Error(), "address space", e)
	}
}

// TestAnAdoptingHostReapsTheKilledGrandchildren: a host that adopts orphans (PID 1, as
// polyfork serve is as a container's entrypoint, or a child subreaper) gets a dead child's
// own children when the child exits, and killing the child's group makes them zombies
// that only it can reap. It reaps them; they stayed zombies
// for good, three more for each worker death in the campaign (docs/faults.md).
func TestAnAdoptingHostReapsTheKilledGrandchildren(t *testing.T) {
	checkNoLeaks(t)
	require.NoError(t, unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
	var grandchildren []int
	t.Cleanup(func() {
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
		for _, pid := range grandchildren { // reaped here if the host did not (the old code)
			var ws unix.WaitStatus
			_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, end := range []string{"crash", "close"} {
		p := start(t, child("serve"))
		for range 2 {
			var gc int
			require.NoError(t, p.Call(ctx, "spawn_grandchild", nil, &gc))
			grandchildren = append(grandchildren, gc)
		}
		if end == "crash" {
			_ = p.Call(ctx, "exit", []any{1}, nil)
			require.Error(t, p.Wait())
		} else {
			require.NoError(t, p.Close())
		}
	}
	for _, gc := range grandchildren {
		eventually(t, "the adopted grandchild is reaped", func() bool {
			_, err := os.Stat("/proc/" + strconv.Itoa(gc))
			return os.IsNotExist(err)
		})
	}
}

// A fork refused for lack of processes (EAGAIN: RLIMIT_NPROC, a cgroup's pids.max) said only
// "resource temporarily unavailable", naming no limit. The error now names the limits that
// may be reached, and still matches syscall.EAGAIN. (A real refusal cannot be made here: root
// is exempt from RLIMIT_NPROC, and a pids limit would stop the test binary's own threads.)
func TestAForkRefusedForLackOfProcessesNamesTheLimits(t *testing.T) {
	err := &os.PathError{Op: "fork/exec", Path: "/usr/bin/python3", Err: syscall.EAGAIN}
	hint := forkHint(err)
	assert.Contains(t, hint, "ulimit -u")
	assert.Contains(t, hint, "pids.max")
	assert.Empty(t, forkHint(&os.PathError{Op: "fork/exec", Path: "x", Err: syscall.ENOENT}))
}
