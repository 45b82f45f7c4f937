package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/stretchr/testify/require"
)

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if code == 0 {
		code = noLeakedGoroutines()
	}
	os.Exit(code)
}

// buildPolyfork builds the command once per test run and returns the binary's path.
func buildPolyfork(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "polyfork-test"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "polyfork")
		build := exec.Command("go", "build", "-o", binPath, ".")
		build.Stderr = os.Stderr
		binErr = build.Run()
	})
	require.NoError(t, binErr)
	return binPath
}

// worker is the Python worker of the serve tests, on the Python client.
func worker() []string {
	return []string{testutil.Python(), filepath.Join("testdata", "worker.py")}
}

// conformance is the Python client's conformance child (protocol/SPEC.md section 9).
func conformance() []string {
	return []string{testutil.Python(), filepath.Join("..", "..", "clients", "python", "tests", "conformance_child.py")}
}

// listenRE finds the address in serve's "listening" record, text or JSON.
var listenRE = regexp.MustCompile(`url"?[=:]"?(http://[^ "]+)`)

// servingBinary is a polyfork serve process started from the built binary.
type servingBinary struct {
	cmd  *exec.Cmd
	base string
	logs *testutil.Buffer
	done chan struct{} // closed when the process has exited and its stderr is read
	err  error         // Wait's error, set before done is closed
}

// startServeBinary runs the built binary as "polyfork serve -addr 127.0.0.1:0 ARGS..." and
// waits until it listens. The process is killed at the end of the test if it still runs.
func startServeBinary(t *testing.T, args ...string) *servingBinary {
	t.Helper()
	return startServing(t, exec.Command(buildPolyfork(t), append([]string{"serve", "-addr", "127.0.0.1:0"}, args...)...))
}

// startServing starts cmd, a polyfork serve however it is run (from another directory,
// under a shell), and waits until it listens, as startServeBinary does.
func startServing(t *testing.T, cmd *exec.Cmd) *servingBinary {
	t.Helper()
	s := &servingBinary{cmd: cmd, logs: &testutil.Buffer{}, done: make(chan struct{})}
	stderr, err := s.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, s.cmd.Start())
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.logs.Write([]byte(line + "\n"))
			if m := listenRE.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
	})
	select {
	case s.base = <-addr:
	case <-s.done:
		t.Fatalf("serve exited before listening: %v\n%s", s.err, s.logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("serve never listened:\n%s", s.logs)
	}
	return s
}

// wait waits for the process to exit (at most limit, a safety bound, not a speed
// assertion) and returns its exit status.
func (s *servingBinary) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(limit):
		t.Fatalf("serve still running after %v:\n%s", limit, s.logs)
	}
	return s.cmd.ProcessState.ExitCode()
}

// openSockets counts the sockets a process has open.
func openSockets(t *testing.T, pid int) int {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	n := 0
	for _, e := range entries {
		if target, err := os.Readlink(dir + "/" + e.Name()); err == nil && strings.HasPrefix(target, "socket:") {
			n++
		}
	}
	return n
}

// peakRSS returns a process's peak resident memory (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// alive reports whether pid is a running process (not a zombie).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(s[i+1:], " Z")
}
