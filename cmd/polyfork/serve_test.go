package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logWriter collects the serve command's stderr and reports the address it listens on.
type logWriter struct {
	mu   sync.Mutex
	sb   strings.Builder
	addr chan string
}

var listenRE = regexp.MustCompile(`listening on (http://[^ ]+)`)

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sb.Write(p)
	if m := listenRE.FindStringSubmatch(string(p)); m != nil {
		select {
		case l.addr <- m[1]:
		default:
		}
	}
	return len(p), nil
}

func (l *logWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sb.String()
}

// serveFor starts polyfork serve in-process and returns its base URL and a stop function
// that drains it and returns its exit status.
func serveFor(t *testing.T, flags ...string) (string, *logWriter, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &logWriter{addr: make(chan string, 1)}
	args := append([]string{"serve", "-addr", "127.0.0.1:0"}, flags...)
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, strings.NewReader(""), io.Discard, logs) }()
	select {
	case base := <-logs.addr:
		stopped := false
		stop := func() int {
			if stopped {
				return -1
			}
			stopped = true
			cancel()
			return <-done
		}
		t.Cleanup(func() { stop() })
		return base, logs, stop
	case code := <-done:
		cancel()
		t.Fatalf("serve exited with %d: %s", code, logs.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("serve never listened: %s", logs.String())
	}
	return "", nil, nil
}

func post(t *testing.T, url, body string, header ...string) (int, map[string]any, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var v map[string]any
	_ = json.Unmarshal(raw, &v)
	return resp.StatusCode, v, string(raw)
}

func getURL(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

func serveArgs(flags []string, command []string) []string {
	return append(append(flags, "--"), command...)
}

func TestServe(t *testing.T) {
	base, logs, stop := serveFor(t, serveArgs([]string{"-workers", "2", "-timeout", "500ms"}, raw("serve"))...)

	code, _, body := post(t, base+"/call/add", "[40, 2]")
	assert.Equal(t, 200, code)
	assert.Equal(t, "42\n", body)

	code, _, body = post(t, base+"/call/echo", "[[18446744073709551615, -9223372036854775808, 0.5]]")
	assert.Equal(t, 200, code)
	assert.Equal(t, "[18446744073709551615,-9223372036854775808,0.5]\n", body, "large integers survive exactly")

	code, _, body = post(t, base+"/call/pid", "")
	assert.Equal(t, 200, code, "an empty body means no params")
	assert.Regexp(t, `^\d+\n$`, body)

	code, v, _ := post(t, base+"/call/fail", `["bad value"]`)
	assert.Equal(t, 500, code)
	assert.Equal(t, map[string]any{"type": "ValueError", "message": "bad value", "traceback": "raw traceback"}, v["error"])

	for _, bad := range []string{`{"a": 1}`, `[1`, `"x"`, `[1] [2]`, `[99999999999999999999999]`} {
		code, v, _ = post(t, base+"/call/echo", bad)
		assert.Equal(t, 400, code, bad)
		assert.Equal(t, "BadRequest", v["error"].(map[string]any)["type"], bad)
	}

	code, _, body = post(t, base+"/call/echo", `["<h1>Tom & Jerry</h1>"]`)
	assert.Equal(t, 200, code)
	assert.Equal(t, "\"<h1>Tom & Jerry</h1>\"\n", body, "no HTML escaping")
	code, _, body = post(t, base+"/call/fail", `["<b>&</b>"]`)
	assert.Equal(t, 500, code)
	assert.Contains(t, body, `"message":"<b>&</b>"`, "no HTML escaping in errors either")

	code, v, _ = post(t, base+"/call/sleep", "[60000]")
	assert.Equal(t, 504, code)
	assert.Equal(t, "Timeout", v["error"].(map[string]any)["type"])

	code, v, _ = post(t, base+"/call/exit", "[3]")
	assert.Equal(t, 502, code)
	assert.Contains(t, v["error"].(map[string]any)["message"], "exited with status 3")

	resp, err := http.Get(base + "/call/add")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	var health map[string]any
	eventually(t, "both workers ready again", func() bool {
		code, body := getURL(t, base+"/healthz")
		_ = json.Unmarshal([]byte(body), &health)
		return code == 200 && health["ready"] == 2.0
	})

	code, body = getURL(t, base+"/workers")
	assert.Equal(t, 200, code)
	var st struct {
		Workers []struct {
			Pid      int   `json:"pid"`
			Restarts int   `json:"restarts"`
			JobsDone int64 `json:"jobs_done"`
		} `json:"workers"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	require.Len(t, st.Workers, 2)

	code, body = getURL(t, base+"/metrics")
	assert.Equal(t, 200, code)
	for _, m := range []string{"polyfork_calls_total{code=\"200\"}", "polyfork_calls_total{code=\"400\"}",
		"polyfork_workers_ready 2", "polyfork_worker_restarts_total", "polyfork_call_duration_seconds_bucket"} {
		assert.Contains(t, body, m)
	}

	assert.Equal(t, exitOK, stop(), logs.String())
	assert.Contains(t, logs.String(), "draining")
}

func TestServeSaturatedAndIdempotent(t *testing.T) {
	base, _, _ := serveFor(t, serveArgs([]string{"-workers", "1", "-queue", "0"}, raw("serve"))...)
	started := make(chan struct{})
	done := make(chan int, 1)
	go func() {
		close(started)
		code, _, _ := post(t, base+"/call/sleep", "[500]")
		done <- code
	}()
	<-started
	eventually(t, "the worker is busy", func() bool {
		_, body := getURL(t, base+"/workers")
		return strings.Contains(body, `"in_flight": 1`)
	})
	code, v, _ := post(t, base+"/call/echo", "[1]")
	assert.Equal(t, 503, code)
	assert.Equal(t, "Saturated", v["error"].(map[string]any)["type"])
	assert.Equal(t, 200, <-done)
}

func TestServeCrashLoopingIs503(t *testing.T) {
	// Every start fails: serve cannot start at all and says why.
	r := polyfork(t, "", append([]string{"serve", "-addr", "127.0.0.1:0", "--"}, raw("die_before_ready")...)...)
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "no worker of the pool could start")
	assert.Contains(t, r.stderr, "fatal: cannot load model")

	r = polyfork(t, "", "serve", "-max-rss", "lots", "--", "x")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "not a size")
}

func TestServeSurvivesKilledWorkers(t *testing.T) {
	base, _, stop := serveFor(t, serveArgs([]string{"-workers", "2"}, raw("serve"))...)
	var st struct {
		Workers []struct {
			Pid int `json:"pid"`
		} `json:"workers"`
	}
	_, body := getURL(t, base+"/workers")
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	require.NoError(t, syscall.Kill(st.Workers[0].Pid, syscall.SIGKILL))
	ok := 0
	for i := 0; i < 20; i++ {
		code, _, _ := post(t, base+"/call/add", "[1, 1]", "Idempotency", "true")
		if code == 200 {
			ok++
		}
	}
	assert.Equal(t, 20, ok, "the other worker answers while the killed one restarts")
	assert.Equal(t, exitOK, stop())
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"512MiB": 512 << 20, "2GB": 2e9, "1048576": 1 << 20, "0": 0, "10 KiB": 10 << 10} {
		var b byteSize
		require.NoError(t, b.Set(in), in)
		assert.Equal(t, want, int64(b), in)
	}
	var b byteSize
	assert.Error(t, b.Set("-1MiB"))
	assert.Error(t, b.Set("MiB"))
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, what, cond)
}

// workerPids returns the pid and restart count of every worker.
func workerPids(t *testing.T, base string) (pids []int, restarts int) {
	t.Helper()
	var st struct {
		Workers []struct {
			Pid      int `json:"pid"`
			Restarts int `json:"restarts"`
		} `json:"workers"`
	}
	_, body := getURL(t, base+"/workers")
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	for _, w := range st.Workers {
		pids = append(pids, w.Pid)
		restarts += w.Restarts
	}
	return pids, restarts
}

func errorOf(t *testing.T, v map[string]any) (typ, message string) {
	t.Helper()
	e, ok := v["error"].(map[string]any)
	require.True(t, ok, "no error object in %v", v)
	typ, _ = e["type"].(string)
	message, _ = e["message"].(string)
	return typ, message
}

// conformance is the Python client's conformance child (protocol/SPEC.md section 9).
func conformance() []string {
	return []string{testutil.Python(), filepath.Join("..", "..", "clients", "python", "tests", "conformance_child.py")}
}

// TestServeRefusesDeepParams sends params nested past the wire's depth to a worker on the
// Python client, which treats such a frame as a protocol error: it must not reach it.
func TestServeRefusesDeepParams(t *testing.T) {
	base, _, _ := serveFor(t, serveArgs([]string{"-workers", "1"}, conformance())...)
	pids, _ := workerPids(t, base)
	code, v, _ := post(t, base+"/call/echo", "["+nested(127)+"]")
	assert.Equal(t, 400, code)
	typ, msg := errorOf(t, v)
	assert.Equal(t, "BadRequest", typ)
	assert.Contains(t, msg, "nest deeper than 127 levels (the wire allows 128, counting the message array around the params)")
	code, _, body := post(t, base+"/call/echo", "["+nested(126)+"]")
	assert.Equal(t, 200, code, "the deepest params the wire allows")
	assert.Equal(t, nested(126)+"\n", body)
	after, restarts := workerPids(t, base)
	assert.Equal(t, pids, after, "no worker died")
	assert.Zero(t, restarts)
}

// TestServeRefusesBadMethods checks that method names the wire cannot carry are refused
// before they reach the pool: a worker on the Python client dies of a method name that is
// not UTF-8.
func TestServeRefusesBadMethods(t *testing.T) {
	base, _, _ := serveFor(t, serveArgs([]string{"-workers", "1"}, conformance())...)
	pids, _ := workerPids(t, base)
	for path, want := range map[string]string{
		"/call/%FF":     `the method name "\xff" is not valid UTF-8 (byte 0xff at offset 0)`,
		"/call/ab%C3":   `the method name "ab\xc3" is not valid UTF-8 (byte 0xc3 at offset 2)`,
		"/call/%24stop": `the method name "$stop" starts with '$'`,
		"/call/":        "the method name is empty",
	} {
		for i := 0; i < 3; i++ {
			code, v, _ := post(t, base+path, "[]")
			assert.Equal(t, 400, code, path)
			typ, msg := errorOf(t, v)
			assert.Equal(t, "BadMethod", typ, path)
			assert.Contains(t, msg, want, path)
		}
	}
	code, _, body := post(t, base+"/call/echo", `["still here"]`)
	assert.Equal(t, 200, code)
	assert.Equal(t, "\"still here\"\n", body)
	after, restarts := workerPids(t, base)
	assert.Equal(t, pids, after, "no worker died")
	assert.Zero(t, restarts)
}
