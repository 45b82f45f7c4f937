package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ensureNumpy installs numpy for python with pip if it is missing, as the example's README
// says; the test is skipped only if that cannot be done.
func ensureNumpy(t *testing.T, python string) {
	t.Helper()
	if exec.Command(python, "-c", "import numpy").Run() == nil {
		return
	}
	t.Logf("numpy is missing for %s: pip install -r requirements.txt", python)
	out, err := exec.Command(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
		"-r", filepath.Join(here(), "requirements.txt")).CombinedOutput()
	if err != nil {
		t.Skipf("numpy is not installed for %s and cannot be (pip: %v):\n%s", python, err, out)
	}
	require.NoError(t, exec.Command(python, "-c", "import numpy").Run(), "pip installed numpy, yet %s cannot import it", python)
}

// ensureMarked runs npm ci in the example's directory if marked is not installed there;
// the test is skipped only if that cannot be done.
func ensureMarked(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(here(), "node_modules", "marked", "package.json")); err == nil {
		return
	}
	t.Log("marked is missing: npm ci")
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = here()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("marked is not installed in %s and cannot be (npm ci: %v):\n%s", here(), err, out)
	}
}

// startService starts the chain with two workers per stage, its logs in logs.
func startService(t *testing.T, logs *testutil.Buffer) (*service, *httptest.Server) {
	t.Helper()
	st, rd, ht := stages()
	for _, s := range []stage{st, rd, ht} {
		_, err := exec.LookPath(s.argv[0])
		require.NoError(t, err, "%s is needed: run scripts/setup.sh", s.argv[0])
	}
	ensureNumpy(t, st.argv[0])
	ensureMarked(t)

	logger := slog.New(slog.NewTextHandler(logs, nil))
	s, err := newService(context.Background(), options{workers: 2, logger: logger, stderr: logs})
	require.NoError(t, err, logs.String())
	srv := httptest.NewServer(s.handler())
	t.Cleanup(func() {
		srv.Close()
		s.Kill()
	})
	return s, srv
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// TestChain runs whole requests through Go, Python with numpy, PHP and Node with marked.
func TestChain(t *testing.T) {
	var logs testutil.Buffer
	s, srv := startService(t, &logs)
	query := "?title=Latency+%3Cb%3E(ms)%3C/b%3E&values=12,15,11,30,14,13"

	t.Run("report", func(t *testing.T) {
		code, body := get(t, srv.URL+"/report"+query)
		require.Equal(t, http.StatusOK, code, "%s\n%s", body, logs.String())
		// The title went through PHP's Markdown escaping and marked: text, never markup.
		assert.Contains(t, body, "<h1>Latency &lt;b&gt;(ms)&lt;/b&gt;</h1>")
		assert.NotContains(t, body, "<b>")
		// numpy's numbers, in PHP's table, as marked's HTML.
		assert.Contains(t, body, "<td>mean</td>\n<td align=\"right\">15.83</td>")
		assert.Contains(t, body, "<td>90th percentile</td>\n<td align=\"right\">22.5</td>")
		assert.Contains(t, body, "<h2>Distribution</h2>")
		assert.Contains(t, body, "████████████████████")
		assert.Regexp(t, `Computed with numpy \d+\.\d+`, body)
		// Go's own struct, filled through its json tags.
		assert.Contains(t, body, "n=6, mean=15.83")
	})

	t.Run("stats as JSON", func(t *testing.T) {
		code, body := get(t, srv.URL+"/stats"+query)
		require.Equal(t, http.StatusOK, code, body)
		var st Stats
		require.NoError(t, json.Unmarshal([]byte(body), &st))
		assert.Equal(t, 6, st.N)
		assert.InDelta(t, 95.0/6, st.Mean, 1e-9)
		assert.InDelta(t, 13.5, st.Median, 1e-9)
		assert.Equal(t, 11.0, st.Min)
		assert.Equal(t, 30.0, st.Max)
		assert.Len(t, st.Histogram.Edges, len(st.Histogram.Counts)+1)
		total := 0
		for _, c := range st.Histogram.Counts {
			total += c
		}
		assert.Equal(t, 6, total)
		assert.NotEmpty(t, st.Numpy)
	})

	t.Run("a stage that raises", func(t *testing.T) {
		code, body := get(t, srv.URL+"/report?values=1,2,inf")
		assert.Equal(t, http.StatusInternalServerError, code)
		assert.Contains(t, body, "<h1>The stats (Python, numpy) stage failed</h1>")
		assert.Contains(t, body, "<strong>ValueError</strong>: values[2] is inf: only finite numbers can be described")
		assert.Contains(t, body, "Traceback (most recent call last)")
	})

	t.Run("bad input", func(t *testing.T) {
		code, body := get(t, srv.URL+"/report?values=1,x,3")
		assert.Equal(t, http.StatusBadRequest, code)
		assert.Contains(t, body, "<h1>Bad input</h1>")
		assert.Contains(t, body, "value 2, &#34;x&#34;, is not a number")
		code, body = get(t, srv.URL+"/report")
		assert.Equal(t, http.StatusBadRequest, code)
		assert.Contains(t, body, "no values")
	})

	t.Run("a worker killed", func(t *testing.T) {
		victim := s.render.Stats().Workers[0].Pid
		require.NoError(t, syscall.Kill(victim, syscall.SIGKILL))
		for i := 0; i < 10; i++ {
			code, body := get(t, srv.URL+"/report"+query)
			require.Equal(t, http.StatusOK, code, "request %d after the kill: %s\n%s", i, body, logs.String())
		}
		testutil.Eventually(t, "the killed PHP worker is replaced", func() bool {
			w := s.render.Stats().Workers[0]
			return w.Restarts == 1 && w.Pid != victim
		})
	})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, s.Shutdown(ctx))

	out := logs.String()
	for _, stage := range []string{"stats (Python, numpy)", "report (PHP)", "markdown (Node, marked)"} {
		assert.Contains(t, out, fmt.Sprintf(`msg="polyfork: worker started" stage="%s"`, stage), "WithLogger logs each stage's workers")
	}
	assert.Contains(t, out, `msg="polyfork: worker exited; restarting" stage="report (PHP)"`)
	assert.Contains(t, out, `msg="polyglot: request" method=GET path=/report status=200`)
	assert.Contains(t, out, `msg="polyglot: stage failed" stage="stats (Python, numpy)" status=500`)
}

// TestExplain pins the status and the page for each kind of failure a stage can have.
func TestExplain(t *testing.T) {
	stageErr := func(err error) error { return &stageError{stage: "report (PHP)", err: err} }
	cases := []struct {
		name   string
		err    error
		status int
		typ    string
	}{
		{"raised", stageErr(&bridge.RemoteError{Type: "TypeError", Message: "bad", Traceback: "#0 render.php"}), 500, "TypeError"},
		{"worker exited", stageErr(&bridge.ExitError{Name: "render.php", Code: 255, Stderr: []string{"PHP Fatal error"}}), 502, "worker exited"},
		{"protocol", stageErr(&bridge.ProtocolError{Err: errors.New("something wrote to stdout")}), 502, "protocol error"},
		{"saturated", stageErr(bridge.ErrSaturated), 503, "unavailable"},
		{"crash loop", stageErr(&bridge.CrashLoopError{Failures: 5, Last: errors.New("exit 1")}), 503, "unavailable"},
		{"timeout", stageErr(fmt.Errorf("call: %w", context.DeadlineExceeded)), 504, "timeout"},
		{"exec timeout", stageErr(bridge.ErrExecTimeout), 504, "timeout"},
		{"input", &stageError{stage: "input", err: errors.New("no values")}, 400, "bad input"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := explain(c.err)
			assert.Equal(t, c.status, f.Status)
			assert.Equal(t, c.typ, f.Type)
			var page strings.Builder
			require.NoError(t, errorPage.Execute(&page, f))
			if c.status == 400 {
				assert.Contains(t, page.String(), "<h1>Bad input</h1>")
			} else {
				assert.Contains(t, page.String(), "<h1>The report (PHP) stage failed</h1>")
			}
		})
	}
	f := explain(stageErr(&bridge.ExitError{Name: "render.php", Code: 255, Stderr: []string{"PHP Fatal error"}}))
	assert.Equal(t, []string{"PHP Fatal error"}, f.Stderr)
	f = explain(stageErr(&bridge.RemoteError{Type: "TypeError", Message: "bad", Traceback: "#0 render.php"}))
	assert.Equal(t, "bad", f.Message)
	assert.Equal(t, "#0 render.php", f.Traceback)
}

// TestCommand runs the example as its README does: the command listens, answers a report,
// and on SIGTERM drains its pools and exits 0, leaving no worker behind.
func TestCommand(t *testing.T) {
	st, _, _ := stages()
	ensureNumpy(t, st.argv[0])
	ensureMarked(t)
	bin := filepath.Join(t.TempDir(), "polyglot")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	var logs testutil.Buffer
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-workers", "1")
	cmd.Stderr = &logs
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})

	var url string
	testutil.Eventually(t, "the service says where it listens", func() bool {
		_, rest, ok := strings.Cut(logs.String(), `msg="polyglot: listening" url=`)
		url, _, _ = strings.Cut(rest, "\n")
		return ok && strings.HasSuffix(url, "/")
	})
	code, body := get(t, url+"report?title=Latency&values=12,15,11,30,14,13")
	require.Equal(t, http.StatusOK, code, "%s\n%s", body, logs.String())
	assert.Contains(t, body, "<h1>Latency</h1>")

	code, body = get(t, url+"workers")
	require.Equal(t, http.StatusOK, code)
	var stats map[string]bridge.PoolStats
	require.NoError(t, json.Unmarshal([]byte(body), &stats))
	var pids []int
	for _, s := range stats {
		for _, w := range s.Workers {
			pids = append(pids, w.Pid)
		}
	}
	require.Len(t, pids, 3, body)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, <-exited, logs.String())
	exited <- nil // for the cleanup
	for _, pid := range pids {
		assert.Error(t, syscall.Kill(pid, 0), "worker %d is still running after the service exited", pid)
	}
	assert.Contains(t, logs.String(), `msg="polyfork: child exited" stage="report (PHP)"`)
}
