package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startWithStderrPipe starts the built binary with args, its stderr the write end of a
// pipe, and reads that pipe until a line matches re; it returns the process, the match
// and the read end, which the caller then stops reading or closes.
func startWithStderrPipe(t *testing.T, re *regexp.Regexp, args ...string) (*exec.Cmd, []string, *os.File, *strings.Builder) {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	cmd := exec.Command(buildPolyfork(t), args...)
	cmd.Stderr = w
	require.NoError(t, cmd.Start())
	w.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); r.Close() })
	var seen strings.Builder
	br := bufio.NewReaderSize(r, 1) // reads no further than the line it returns: the rest stays in the pipe
	for {
		line, err := br.ReadString('\n')
		seen.WriteString(line)
		require.NoError(t, err, "no line matching %s: %s", re, seen.String())
		if m := re.FindStringSubmatch(line); m != nil {
			return cmd, m, r, &seen
		}
	}
}

// exited waits for cmd to exit, at most limit (a safety bound, not a speed assertion).
func exited(t *testing.T, cmd *exec.Cmd, limit time.Duration) *os.ProcessState {
	t.Helper()
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
		return cmd.ProcessState
	case <-time.After(limit):
		t.Fatalf("%s still running %v after SIGTERM", cmd.Args[1], limit)
		return nil
	}
}

// TestServingOutlivesItsStderr: a serving command's stderr is a pipe whose reader goes
// away (a log shipper that ended) or stops reading (one that hangs, a terminal paused
// with Ctrl-S). The command went down with the first (SIGPIPE at its next log line: the
// port closed, every worker died) and froze with the second (a worker's print, the access
// log and the drain's first record all waited for room in the pipe, so calls hung and
// SIGTERM never ended it). Now it serves on and drains, dropping what it cannot write and
// saying how much once stderr is read again (docs/faults.md).
func TestServingOutlivesItsStderr(t *testing.T) {
	t.Run("cluster, its stderr closed", func(t *testing.T) {
		channel, argv := httpWorker(t, "python")
		needCommand(t, argv[0])
		cmd, m, r, seen := startWithStderrPipe(t, regexp.MustCompile(`msg="admin listening" url=(http://\S+) `),
			append([]string{"cluster", "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-workers", "1", "-channel", channel, "--"}, argv...)...)
		addr := clusterListenRE.FindStringSubmatch(seen.String())[1]
		c := &runningCluster{addr: addr, admin: m[1]}
		_, first, err := hit(addr)
		require.NoError(t, err)
		r.Close() // the reader of polyfork's stderr is gone

		// The worker's death and restart are logged, to a pipe with no reader.
		require.NoError(t, syscall.Kill(first, syscall.SIGKILL))
		testutil.Eventually(t, "a new worker answering", func() bool {
			_, pid, err := hit(addr)
			require.NoError(t, err, "the cluster died with its log reader")
			return pid != first
		})
		require.Len(t, c.workerPids(t), 1)
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		st := exited(t, cmd, time.Minute)
		assert.Equal(t, 0, st.ExitCode(), "%v", st)
	})

	t.Run("serve, its stderr never read", func(t *testing.T) {
		cmd, m, r, seen := startWithStderrPipe(t, listenRE,
			append([]string{"serve", "-addr", "127.0.0.1:0", "-workers", "1", "-access-log", "-timeout", "0", "--"}, worker()...)...)
		base := m[1]
		// From here on nothing reads the pipe: 4 MiB of worker output, with an access-log
		// record per call, is far more than a pipe (64 KiB) and polyfork (1 MiB) hold.
		client := &http.Client{Timeout: time.Minute}
		line := strconv.Quote(strings.Repeat("x", 256<<10))
		for i := 0; i < 16; i++ {
			resp, err := client.Post(base+"/call/stderr", "application/json", strings.NewReader("["+line+"]"))
			require.NoError(t, err, "call %d: the worker waits for polyfork's stderr", i)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		}
		// Read at last: what fitted, a line saying what was dropped, the drain's records.
		rest := make(chan []byte, 1)
		go func() { b, _ := io.ReadAll(r); rest <- b }()
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		st := exited(t, cmd, time.Minute)
		assert.Equal(t, 0, st.ExitCode(), "%v", st)
		all := seen.String() + string(<-rest)
		assert.Regexp(t, `polyfork: \d+ lines of log were dropped: stderr was not being read`, all)
		assert.Contains(t, all, "msg=drained")
	})
}

// blockingWriter blocks every Write until release is closed, then records them.
type blockingWriter struct {
	release chan struct{}
	got     testutil.Buffer
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	<-b.release
	return b.got.Write(p)
}

// TestLogSinkKeepsOrderAndDropsPastItsBound: lines go out whole and in order; while the
// writer is stuck, Write returns at once and lines past logSinkSize are dropped, then
// counted in one line once the writes go through again.
func TestLogSinkKeepsOrderAndDropsPastItsBound(t *testing.T) {
	w := &blockingWriter{release: make(chan struct{})}
	s := newLogSink(w)
	line := strings.Repeat("y", 1000) + "\n"
	for i := 0; i < 3000; i++ { // 3 MB: the writer takes the first line, then is stuck
		n, err := s.Write([]byte(strconv.Itoa(i) + " " + line))
		require.NoError(t, err)
		require.Positive(t, n)
	}
	close(w.release)
	s.close()
	lines := strings.Split(strings.TrimSuffix(w.got.String(), "\n"), "\n")
	last := -1
	for _, l := range lines[:len(lines)-1] {
		n, err := strconv.Atoi(strings.Fields(l)[0])
		require.NoError(t, err, l)
		require.Greater(t, n, last, "out of order")
		last = n
	}
	kept := len(lines) - 1
	assert.Less(t, kept, 1100, "about logSinkSize bytes are held")
	assert.Equal(t, "polyfork: "+strconv.Itoa(3000-kept)+" lines of log were dropped: stderr was not being read", lines[len(lines)-1])
}
