package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logWriter collects a command's stderr and reports the first address that addrRE (by
// default listenRE, serve's) finds in it.
type logWriter struct {
	mu     sync.Mutex
	sb     strings.Builder
	addr   chan string
	addrRE *regexp.Regexp
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sb.Write(p)
	re := l.addrRE
	if re == nil {
		re = listenRE
	}
	if m := re.FindStringSubmatch(string(p)); m != nil {
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
	// The call that keeps the only worker busy runs until the test ends it: one of a fixed
	// length (it slept 500 ms) could be over before the second call came, on a slow machine.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/call/sleep", strings.NewReader("[600000]"))
		if err == nil {
			var resp *http.Response
			if resp, err = http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
		done <- err
	}()
	eventually(t, "the worker is busy", func() bool {
		_, body := getURL(t, base+"/workers")
		return strings.Contains(body, `"in_flight": 1`)
	})
	code, v, _ := post(t, base+"/call/echo", "[1]")
	assert.Equal(t, 503, code)
	assert.Equal(t, "Saturated", v["error"].(map[string]any)["type"])

	cancel() // the busy call's client gives up: the call is cancelled, the worker free again
	require.ErrorIs(t, <-done, context.Canceled)
	eventually(t, "the worker free again", func() bool {
		code, _, _ := post(t, base+"/call/echo", "[1]")
		return code == 200
	})
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

// SIGHUP, which reloads a cluster, used to kill serve (Go's default) with its calls in flight.
// It now replaces the workers one by one, and the call in flight is answered.
func TestServeReloadsOnSIGHUP(t *testing.T) {
	base, logs, stop := serveFor(t, serveArgs([]string{"-workers", "1"}, raw("serve"))...)
	before, _ := workerPids(t, base)
	answered := make(chan int, 1)
	go func() {
		code, _, _ := post(t, base+"/call/sleep", "[500]")
		answered <- code
	}()
	time.Sleep(100 * time.Millisecond)                                 // the call is in flight
	require.NoError(t, syscall.Kill(syscall.Getpid(), syscall.SIGHUP)) // serve runs in this process
	assert.Equal(t, 200, <-answered, "the call in flight is answered: %s", logs.String())
	eventually(t, "the reload done", func() bool { return strings.Contains(logs.String(), "msg=reloaded") })
	after, _ := workerPids(t, base)
	assert.NotEqual(t, before, after, "the worker was replaced")
	code, _, body := post(t, base+"/call/add", "[1, 2]")
	assert.Equal(t, 200, code)
	assert.Equal(t, "3\n", body)
	assert.Equal(t, exitOK, stop())
}

// A bad -addr is a usage error found before any worker starts; it used to start the pool,
// fail the listen with exit 3, and kill the workers.
func TestServeBadAddr(t *testing.T) {
	for addr, want := range map[string]string{
		"unix:/tmp/x.sock": "serve listens on TCP only",
		"127.0.0.1:99999":  "port 99999 is out of range",
		"127.0.0.1:nope":   `"nope" is not a port`,
		"127.0.0.1":        "want host:port",
	} {
		r := polyfork(t, "", append([]string{"serve", "-addr", addr, "--"}, raw("serve")...)...)
		assert.Equal(t, exitUsage, r.code, addr)
		assert.Contains(t, r.stderr, want, addr)
		assert.NotContains(t, r.stderr, "child started", addr)
	}
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

// chunked hides a body's length, so that the client sends it chunked.
type chunked struct{ r io.Reader }

func (c chunked) Read(p []byte) (int, error) { return c.r.Read(p) }

// TestServeBodyLimits sends bodies past each limit to a worker on the Python client, which
// treats a frame nested too deep as a protocol error: none of them may reach it.
func TestServeBodyLimits(t *testing.T) {
	base, _, _ := serveFor(t, serveArgs([]string{"-workers", "1", "-max-body", "4KiB", "-max-values", "200"}, conformance())...)
	pids, _ := workerPids(t, base)

	big := `["` + strings.Repeat("x", 5000) + `"]`
	code, v, _ := post(t, base+"/call/echo", big)
	assert.Equal(t, 413, code)
	typ, msg := errorOf(t, v)
	assert.Equal(t, "BodyTooLarge", typ)
	assert.Contains(t, msg, "the body (5004 bytes) is larger than the limit of 4096 bytes set by -max-body")

	resp, err := http.Post(base+"/call/echo", "application/json", chunked{strings.NewReader(big)})
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 413, resp.StatusCode, "a chunked body is cut at the limit too")
	assert.Contains(t, string(raw), "larger than the limit of 4096 bytes set by -max-body")

	code, v, _ = post(t, base+"/call/echo", "["+nested(127)+"]")
	assert.Equal(t, 400, code)
	typ, msg = errorOf(t, v)
	assert.Equal(t, "BadRequest", typ)
	assert.Contains(t, msg, "nest deeper than 127 levels (the wire allows 128, counting the message array around the params)")
	code, _, body := post(t, base+"/call/echo", "["+nested(126)+"]")
	assert.Equal(t, 200, code, "the deepest params the wire allows")
	assert.Equal(t, nested(126)+"\n", body)

	values := `[{"k": [` + strings.TrimSuffix(strings.Repeat("0,", 196), ",") + "]}]" // 4 + 196 values
	code, _, _ = post(t, base+"/call/echo", values)
	assert.Equal(t, 200, code, "200 values pass")
	code, v, _ = post(t, base+"/call/echo", strings.Replace(values, "[0,", "[0,0,", 1))
	assert.Equal(t, 400, code)
	_, msg = errorOf(t, v)
	assert.Contains(t, msg, "more than 200 values, counting every array, object, key and scalar (the limit set by -max-values)")

	for body, want := range map[string]string{
		"[\"\xff\"]":              "not valid UTF-8 (at byte 2)",
		`[{"a": 1, "a": 2}]`:      `the key "a" appears twice in one object`,
		"[1e999]":                 "the number 1e999 does not fit in a float64",
		"\xef\xbb\xbf[1, 2] x":    "invalid JSON",
		`[1, 2`:                   "invalid JSON",
		`{"params": [1]}`:         "must be a JSON array such as [1, 2], not an object",
		"[\"\\ud800\", \"\xe2\"]": "not valid UTF-8",
	} {
		code, v, _ = post(t, base+"/call/echo", body)
		assert.Equal(t, 400, code, body)
		_, msg = errorOf(t, v)
		assert.Contains(t, msg, want, body)
	}
	code, _, body = post(t, base+"/call/echo", "\xef\xbb\xbf[\"a byte order mark is skipped\"]")
	assert.Equal(t, 200, code)
	assert.Equal(t, "\"a byte order mark is skipped\"\n", body)

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

// TestServeBodyBudget fills the bytes allowed for bodies in flight with one slow call: a
// large body that does not fit waits for room until its deadline, then gets 503, while
// small bodies go through; once the slow call ends, the room is back.
func TestServeBodyBudget(t *testing.T) {
	base, _, _ := serveFor(t, serveArgs([]string{"-workers", "2", "-max-body", "256KiB", "-max-body-inflight", "256KiB",
		"-body-timeout", "1s"}, raw("serve"))...)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	holder := make(chan error, 1)
	go func() {
		body := `[60000, "` + strings.Repeat("x", 200<<10) + `"]` // sleep, holding 200 KiB of the 256
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/call/sleep", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		holder <- err
	}()
	eventually(t, "the slow call runs", func() bool {
		_, body := getURL(t, base+"/workers")
		return strings.Contains(body, `"in_flight": 1`)
	})
	_, metrics := getURL(t, base+"/metrics")
	assert.Contains(t, metrics, "polyfork_body_bytes_in_flight 204811")

	large := `["` + strings.Repeat("y", 100<<10) + `"]`
	code, v, _ := post(t, base+"/call/echo", large)
	assert.Equal(t, 503, code)
	typ, msg := errorOf(t, v)
	assert.Equal(t, "Busy", typ)
	assert.Contains(t, msg, "request bodies in flight hold 204811 of the 262144 bytes allowed (-max-body-inflight); this one (102404 bytes) waited 1s (-body-timeout)")
	small := `["` + strings.Repeat("z", smallBody-4) + `"]`
	code, _, _ = post(t, base+"/call/echo", small)
	assert.Equal(t, 200, code, "a small body does not wait for room")

	cancel() // the client gives up: the call is cancelled and its bytes are given back
	require.Error(t, <-holder)
	eventually(t, "the room is back", func() bool {
		code, _, _ := post(t, base+"/call/echo", large)
		return code == 200
	})
	_, metrics = getURL(t, base+"/metrics")
	assert.Contains(t, metrics, "polyfork_body_bytes_in_flight 0")
}

// TestServeBodyTimeout sends a body that stops halfway: the answer is 408.
func TestServeBodyTimeout(t *testing.T) {
	base, _, _ := serveFor(t, serveArgs([]string{"-workers", "1", "-body-timeout", "300ms"}, raw("serve"))...)
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "POST /call/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n[1, ")
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Second))) // a safety bound
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	assert.Equal(t, 408, resp.StatusCode)
	assert.Contains(t, string(raw), "the body did not arrive within 300ms (-body-timeout)")
}

// TestServeLogs checks the JSON log: serve's events, the workers' stderr and the access
// log, every line one JSON object.
func TestServeLogs(t *testing.T) {
	base, logs, stop := serveFor(t, serveArgs([]string{"-workers", "1", "-log-format", "json", "-access-log"}, raw("serve"))...)
	code, _, _ := post(t, base+"/call/add", "[1, 2]")
	require.Equal(t, 200, code)
	code, _, _ = post(t, base+"/call/stderr", `["a line from the worker"]`)
	require.Equal(t, 200, code)
	code, _, _ = post(t, base+"/call/exit", "[7]")
	require.Equal(t, 502, code)
	require.Equal(t, exitOK, stop())

	byMsg := map[string][]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "not JSON: %s", line)
		msg, _ := rec["msg"].(string)
		byMsg[msg] = append(byMsg[msg], rec)
	}
	for _, msg := range []string{"listening", "draining", "drained", "request", "worker stderr"} {
		assert.NotEmpty(t, byMsg[msg], "no %q record in:\n%s", msg, logs)
	}
	assert.Equal(t, 0.0, byMsg["drained"][0]["exit_status"])

	var add, exit map[string]any
	for _, rec := range byMsg["request"] {
		switch rec["method"] {
		case "add":
			add = rec
		case "exit":
			exit = rec
		}
	}
	require.NotNil(t, add, "no access record for add")
	assert.Equal(t, "POST", add["http_method"])
	assert.Equal(t, "/call/add", add["path"])
	assert.Equal(t, 200.0, add["status"])
	assert.Equal(t, 6.0, add["bytes_in"])
	assert.Equal(t, 2.0, add["bytes_out"])
	assert.Contains(t, add, "duration")
	require.NotNil(t, exit, "no access record for exit")
	assert.Equal(t, 502.0, exit["status"])
	assert.NotZero(t, exit["pid"], "the pid of the worker that died")

	var found bool
	for _, rec := range byMsg["worker stderr"] {
		found = found || rec["line"] == "a line from the worker"
	}
	assert.True(t, found, "the worker's stderr line as a record")
}

func TestServeTextLogs(t *testing.T) {
	base, logs, stop := serveFor(t, serveArgs([]string{"-workers", "1", "-access-log"}, raw("serve"))...)
	code, _, _ := post(t, base+"/call/add", "[1, 2]")
	require.Equal(t, 200, code)
	require.Equal(t, exitOK, stop())
	assert.Regexp(t, `level=INFO msg=request http_method=POST path=/call/add status=200 duration=\S+ bytes_in=6 bytes_out=2 remote=\S+ method=add`, logs.String())
	assert.Regexp(t, `level=INFO msg=drained took=\S+ exit_status=0`, logs.String())

	r := polyfork(t, "", "serve", "-log-format", "xml", "-max-body-inflight", "1KiB", "-max-values", "0", "--", "x")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, `-log-format must be text or json, got "xml"`)
	assert.Contains(t, r.stderr, "-max-body-inflight (1KiB) must be at least -max-body (8MiB)")
	assert.Contains(t, r.stderr, "-max-values must be between 1 and 4194300")
}

// TestServeResultBudget holds a large result unread, as a client that stops reading does:
// it takes its room in -max-result-inflight until the client reads it or goes away, and a
// second large result finding no room is dropped with 503 at once instead of being held
// too. Small results are not counted. serve used to hold every unread result, and more
// than once its size, until -write-timeout and, for the runtime, long after.
func TestServeResultBudget(t *testing.T) {
	const size = 16 << 20 // more than the kernel's socket buffers hold
	base, _, _ := serveFor(t, serveArgs([]string{"-workers", "2", "-max-result-inflight", "20MiB", "-write-timeout", "5m"}, worker())...)
	addr := strings.TrimPrefix(base, "http://")

	body := fmt.Sprintf("[%d]", size)
	stalled := stallOn(t, addr, "big", body, 200)
	defer stalled.Close()

	_, metrics := getURL(t, base+"/metrics")
	held := fmt.Sprintf("polyfork_result_bytes_in_flight %g", float64(size+5)) // a str32 of size bytes
	assert.True(t, strings.Contains(metrics, held), "no %q in /metrics", held)

	code, v, _ := post(t, base+"/call/big", body)
	assert.Equal(t, 503, code, "no room for a second large result")
	typ, msg := errorOf(t, v)
	assert.Equal(t, "Busy", typ)
	assert.Contains(t, msg, fmt.Sprintf("big ran, but its result (%d bytes) was dropped: results still being read by their clients hold %d of the 20971520 bytes allowed (-max-result-inflight)", size+5, size+5))
	code, _, out := post(t, base+"/call/big", "[1000]")
	assert.Equal(t, 200, code, "a small result takes no room")
	assert.Equal(t, `"`+strings.Repeat("x", 1000)+"\"\n", out)

	stalled.Close() // the client goes away: the write fails and the room is back
	eventually(t, "the room is back", func() bool {
		_, metrics := getURL(t, base+"/metrics")
		return strings.Contains(metrics, "polyfork_result_bytes_in_flight 0")
	})
	code, _, out = post(t, base+"/call/big", body)
	assert.Equal(t, 200, code)
	assert.Equal(t, size+3, len(out), "the whole string, quoted, and a newline")
}

// TestServeResultKeysCollide: a result map with the integer key 1 and the string key "1"
// has no JSON form; serve used to answer 200 with one of the two values, at random.
func TestServeResultKeysCollide(t *testing.T) {
	base, _, _ := serveFor(t, serveArgs([]string{"-workers", "1"}, worker())...)
	for i, body := range []string{"", "", "", "[200000]"} { // the last one is streamed
		code, v, _ := post(t, base+"/call/keys", body)
		assert.Equal(t, 502, code, "try %d", i)
		typ, msg := errorOf(t, v)
		assert.Equal(t, "BadResult", typ)
		assert.Equal(t, `the result of keys cannot be written as JSON: a map has both the integer key 1 and the string key "1", which are one key in JSON`, msg)
	}
}

// TestServeHeaderLimit: headers are bounded by -max-header-bytes (32 KiB). They were bounded
// only by Go's default, 1 MiB, so that 600 connections sending headers slowly held 656 MB.
func TestServeHeaderLimit(t *testing.T) {
	base, _, _ := serveFor(t, serveArgs([]string{"-workers", "1"}, worker())...)
	send := func(headerBytes int) int {
		req, err := http.NewRequest(http.MethodPost, base+"/call/echo", strings.NewReader(`["ok"]`))
		require.NoError(t, err)
		for i := 0; i*1000 < headerBytes; i++ {
			req.Header.Set(fmt.Sprintf("X-Filler-%d", i), strings.Repeat("a", 980))
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, 200, send(16<<10), "16 KiB of headers")
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, send(64<<10), "64 KiB of headers")

	r := polyfork(t, "", "serve", "-max-header-bytes", "0", "--", "x")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "-max-header-bytes must be between 1 and 1GiB, got 0")
}

// TestServeEvictsIdleConnections fills -max-conns with connections doing nothing: kept
// alive after a request, or yet to send one. A new client used to wait in the listen
// backlog until -idle-timeout or -read-header-timeout (here 5 minutes) freed a slot, so
// that -max-conns clients sending a request a minute locked everyone else out. Now such a
// connection is closed to make room, the one idle the longest first.
func TestServeEvictsIdleConnections(t *testing.T) {
	const limit = 4
	base, _, _ := serveFor(t, serveArgs([]string{"-workers", "1", "-max-conns", fmt.Sprint(limit),
		"-idle-timeout", "5m", "-read-header-timeout", "5m"}, worker())...)
	addr := strings.TrimPrefix(base, "http://")
	fresh := func() *http.Client { // a client on a connection of its own
		return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	}
	call := func(c *http.Client) int {
		resp, err := c.Post(base+"/call/echo", "application/json", strings.NewReader(`["in"]`))
		if !assert.NoError(t, err, "a new client is served (the 30 s bound is a safety net)") {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := 0; i < limit; i++ { // one request each, then kept alive, idle
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		held = append(held, c)
		_, err = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		resp.Body.Close()
	}
	assert.Equal(t, 200, call(fresh()), "with -max-conns connections kept alive and idle")
	// One of them was closed to make room (which one: TestConnTrackerEvictsTheLongestIdle;
	// here the server may record the idle times in another order than the test made them).
	closed := 0
	for _, c := range held {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(2*time.Second))) // the close came before the 200
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, io.EOF) {
			closed++
		}
	}
	assert.Equal(t, 1, closed, "one idle connection was closed to make room")

	for i := range held { // now connections that send nothing
		held[i].Close()
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		held[i] = c
	}
	assert.Equal(t, 200, call(fresh()), "with -max-conns connections that sent nothing")
	_, metrics := getURL(t, base+"/metrics")
	assert.Regexp(t, `polyfork_http_connections_evicted_total [2-9]`, metrics)
}

// The connection evict closes is the one kept alive the longest without a request, else,
// when none is idle, the one silent the longest since it connected; one a request is
// running on is never closed, nor one doing nothing for less than evictAfter (a client
// accepted a moment ago whose request the server has not read yet).
func TestConnTrackerEvictsTheLongestIdle(t *testing.T) {
	pipe := func() net.Conn {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return a
	}
	tr := newConnTracker()
	now := time.Now().Add(-evictAfter)
	idleOld, idleNew, freshOld, freshNew, busy, justNow := pipe(), pipe(), pipe(), pipe(), pipe(), pipe()
	tr.idle[idleNew], tr.idle[idleOld] = now, now.Add(-time.Minute)
	tr.fresh[freshNew], tr.fresh[freshOld] = now, now.Add(-time.Hour) // older, but not idle
	tr.fresh[justNow] = time.Now()                                    // its request may be on its way
	tr.bodies[busy] = struct{}{}
	for _, want := range []net.Conn{idleOld, idleNew, freshOld, freshNew} {
		require.True(t, tr.evict())
		_, err := want.Write([]byte{1})
		assert.ErrorIs(t, err, io.ErrClosedPipe, "closed in order")
	}
	assert.False(t, tr.evict(), "neither a connection whose request runs nor one accepted a moment ago is closed")
	assert.EqualValues(t, 4, tr.evictions())
}

// stallOn posts body to /call/method from a client with a small receive buffer that reads
// the answer's headers (the status must be want) and no more, and returns its connection.
func stallOn(t *testing.T, addr, method, body string, want int) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		_ = rc.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return err
	}}
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	_, err = fmt.Fprintf(c, "POST /call/%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", method, len(body), body)
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second))) // a safety bound
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 4096), nil)
	require.NoError(t, err)
	require.Equal(t, want, resp.StatusCode, "the stalled client's call ran; its answer is being written")
	return c
}

// TestServeErrorBudget: the error a worker raised counts in -max-result-inflight as a
// result does. Five clients that did not read a 30 MB error message held serve at 687 MB;
// with no room, the message and traceback are now cut, with a note, keeping the status
// and type.
func TestServeErrorBudget(t *testing.T) {
	const size = 8 << 20 // the traceback repeats the message: twice that in all
	base, _, _ := serveFor(t, serveArgs([]string{"-workers", "2", "-max-result-inflight", "20MiB", "-write-timeout", "5m"}, worker())...)
	body := fmt.Sprintf("[%d]", size)
	stalled := stallOn(t, strings.TrimPrefix(base, "http://"), "raise_big", body, 500)
	defer stalled.Close()
	_, metrics := getURL(t, base+"/metrics")
	held := regexp.MustCompile(`(?m)^polyfork_result_bytes_in_flight \S+`).FindString(metrics)
	assert.Regexp(t, `^polyfork_result_bytes_in_flight 1\.67\d*e\+07$`, held, "the message and traceback, about %d bytes", 2*size)

	code, v, raw := post(t, base+"/call/raise_big", body)
	assert.Equal(t, 500, code)
	typ, msg := errorOf(t, v)
	assert.Equal(t, "ValueError", typ)
	assert.Less(t, len(raw), 16<<10, "the answer is cut")
	assert.True(t, strings.HasPrefix(msg, strings.Repeat("x", 4096)+" [cut to 4096 bytes: the message and traceback take "), "%.200s", msg)
	assert.Contains(t, msg, "bytes allowed (-max-result-inflight)]")

	stalled.Close()
	eventually(t, "the room is back", func() bool {
		_, metrics := getURL(t, base+"/metrics")
		return strings.Contains(metrics, "polyfork_result_bytes_in_flight 0")
	})
	code, v, _ = post(t, base+"/call/raise_big", body)
	assert.Equal(t, 500, code)
	_, msg = errorOf(t, v)
	assert.Equal(t, size, len(msg), "the whole message")
}

// TestServeNoRoute: what no route takes is answered in JSON, as every other error is, and
// says what would have worked. ServeMux answered "404 page not found" and "Method Not
// Allowed" in plain text, also to a method name with a '/' in it.
func TestServeNoRoute(t *testing.T) {
	base, _, _ := serveFor(t, serveArgs([]string{"-workers", "1"}, worker())...)
	for _, c := range []struct{ method, path, typ, msg string }{
		{"POST", "/call/a/b", "NotFound", "no route for POST /call/a/b: the method name is one path segment, so write a '/' in it as %2F (routes: POST /call/METHOD, GET /healthz, GET /workers, GET /metrics)"},
		{"POST", "/nowhere", "NotFound", "no route for POST /nowhere (routes: "},
		{"GET", "/call/echo", "MethodNotAllowed", "/call/echo takes POST, not GET"},
		{"GET", "/call/a%2Fb", "MethodNotAllowed", "takes POST, not GET"}, // one segment as sent
		{"DELETE", "/healthz", "MethodNotAllowed", "/healthz takes GET, not DELETE"},
	} {
		req, err := http.NewRequest(c.method, base+c.path, strings.NewReader("[1]"))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var v map[string]any
		require.NoError(t, json.Unmarshal(raw, &v), "%s %s: not JSON: %s", c.method, c.path, raw)
		typ, msg := errorOf(t, v)
		assert.Equal(t, c.typ, typ, c.path)
		assert.Contains(t, msg, c.msg, c.path)
		if c.typ == "MethodNotAllowed" {
			assert.Equal(t, 405, resp.StatusCode)
			assert.NotEmpty(t, resp.Header.Get("Allow"))
		} else {
			assert.Equal(t, 404, resp.StatusCode)
		}
	}
	code, _, body := post(t, base+"/call/echo", `["still routed"]`)
	assert.Equal(t, 200, code)
	assert.Equal(t, "\"still routed\"\n", body)
}

// TestServeChunkedBodyBudget: a chunked body takes room in -max-body-inflight only once
// more than 64 KiB of it has arrived. It took -max-body at its first byte, so that a few
// connections sending a byte now and then held the whole budget, and every chunked body,
// "[1]" included, waited for them up to -body-timeout, then got 503.
func TestServeChunkedBodyBudget(t *testing.T) {
	base, _, _ := serveFor(t, serveArgs([]string{"-workers", "1", "-max-body", "256KiB", "-max-body-inflight", "256KiB",
		"-body-timeout", "5m"}, worker())...)
	addr := strings.TrimPrefix(base, "http://")
	inFlight := func() string {
		_, metrics := getURL(t, base+"/metrics")
		return regexp.MustCompile(`(?m)^polyfork_body_bytes_in_flight \S+`).FindString(metrics)
	}

	small, err := net.Dial("tcp", addr) // a chunked body that never ends
	require.NoError(t, err)
	defer small.Close()
	_, err = io.WriteString(small, "POST /call/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n[\r\n")
	require.NoError(t, err)
	eventually(t, "the body is arriving", func() bool {
		_, metrics := getURL(t, base+"/metrics")
		return strings.Contains(metrics, "polyfork_http_bodies_arriving 1")
	})
	assert.Equal(t, "polyfork_body_bytes_in_flight 0", inFlight(), "3 bytes of a chunked body take no room")

	client := &http.Client{Timeout: 30 * time.Second} // a safety bound
	resp, err := client.Post(base+"/call/echo", "application/json", chunked{strings.NewReader(`["chunked"]`)})
	require.NoError(t, err, "a small chunked body does not wait")
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "\"chunked\"\n", string(raw))

	// Past 64 KiB, a chunked body counts as -max-body.
	large, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer large.Close()
	chunk := `["` + strings.Repeat("x", smallBody)
	_, err = fmt.Fprintf(large, "POST /call/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", len(chunk), chunk)
	require.NoError(t, err)
	eventually(t, "the large chunked body takes -max-body", func() bool { return inFlight() == "polyfork_body_bytes_in_flight 262144" })
	_, err = io.WriteString(large, "2\r\n\"]\r\n0\r\n\r\n")
	require.NoError(t, err)
	require.NoError(t, large.SetReadDeadline(time.Now().Add(30*time.Second)))
	resp, err = http.ReadResponse(bufio.NewReader(large), nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	eventually(t, "the room is back", func() bool { return inFlight() == "polyfork_body_bytes_in_flight 0" })
}

// A client that arrives when a slot has freed while Accept waited for it takes that slot:
// no kept-alive connection is closed for it (one was, and a POST on it failed for nothing).
func TestLimitListenerEvictsOnlyWhenFull(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var evicted atomic.Int32
	l := newLimitListener(ln, 1, func() bool { evicted.Add(1); return false })
	defer l.Close()
	first, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer first.Close()
	held, err := l.Accept()
	require.NoError(t, err)

	next := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept() // every slot taken: waits for a client
		if err == nil {
			next <- c
		}
		close(next)
	}()
	time.Sleep(100 * time.Millisecond) // (lets Accept reach its wait: the old code is then caught)
	held.Close()                       // the slot frees while Accept waits
	second, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer second.Close()
	select {
	case c, ok := <-next:
		require.True(t, ok, "Accept failed")
		c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the client was not accepted")
	}
	assert.Zero(t, evicted.Load(), "nobody was closed: a slot was free")
}
