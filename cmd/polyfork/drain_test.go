package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slowClient opens a connection and sends the start of a request, then nothing more: the
// headers and part of a body (bodyPart != ""), or part of the headers only.
func slowClient(t *testing.T, addr string, bodyPart string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	start := "POST /call/echo HTTP/1.1\r\nHost: x\r\n"
	if bodyPart != "" {
		start += "Content-Length: 100000\r\n\r\n" + bodyPart
	}
	_, err = io.WriteString(c, start)
	require.NoError(t, err)
	return c
}

// TestServeDrainWithSlowClients holds hundreds of connections open with bodies that never
// finish (a few of them reading, the others waiting for room in -max-body-inflight), plus
// connections that never finish their headers, then sends SIGTERM to a built polyfork
// serve while a call runs: the call finishes, the slow connections are cut, the workers get
// $stop (they write their "stopped cleanly" line, which a SIGKILL never lets them write),
// and serve exits 0 within -drain, which is shorter than the slow clients' timeouts.
func TestServeDrainWithSlowClients(t *testing.T) {
	const slowBodies, slowHeaders = 300, 30
	s := startServeBinary(t, append([]string{"-workers", "2", "-body-timeout", "120s", "-read-header-timeout", "120s",
		"-max-body", "1MiB", "-max-body-inflight", "1MiB", "-drain", "60s", "--"}, worker()...)...)
	addr := strings.TrimPrefix(s.base, "http://")

	var slow []net.Conn
	for i := 0; i < slowBodies; i++ {
		slow = append(slow, slowClient(t, addr, "[1, "))
	}
	for i := 0; i < slowHeaders; i++ {
		slow = append(slow, slowClient(t, addr, ""))
	}
	eventually(t, "serve holds every slow connection, and reads the bodies", func() bool {
		_, body := getURL(t, s.base+"/metrics")
		return metric(body, "polyfork_http_connections") >= slowBodies+slowHeaders &&
			metric(body, "polyfork_http_bodies_arriving") == slowBodies
	})

	code, _, body := post(t, s.base+"/call/echo", `["legit"]`)
	assert.Equal(t, 200, code, "a call made while the slow clients hold their connections")
	assert.Equal(t, "\"legit\"\n", body)

	pids, _ := workerPids(t, s.base)
	require.Len(t, pids, 2)
	running := make(chan string, 1)
	go func() {
		resp, err := http.Post(s.base+"/call/sleep", "application/json", strings.NewReader("[1500]"))
		if err != nil {
			running <- err.Error()
			return
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		running <- fmt.Sprintf("%d %s", resp.StatusCode, raw)
	}()
	eventually(t, "the call runs", func() bool {
		_, body := getURL(t, s.base+"/workers")
		return strings.Contains(body, `"in_flight": 1`)
	})

	signalled := time.Now()
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, exitOK, s.wait(t, 90*time.Second), s.logs.String())
	t.Logf("drain with %d slow bodies and %d slow headers took %v from SIGTERM to exit", slowBodies, slowHeaders, time.Since(signalled))

	assert.Equal(t, "200 \"slept\"\n", <-running, "the call in flight when the drain began finished")
	logs := s.logs.String()
	for _, pid := range pids {
		assert.Contains(t, logs, fmt.Sprintf("worker %d stopped cleanly", pid), "worker %d got $stop, not a signal", pid)
		assert.False(t, alive(pid), "worker %d still running", pid)
	}
	assert.Regexp(t, fmt.Sprintf(`msg=draining timeout=1m0s closed_conns_without_request=%d cut_bodies=%d`, slowHeaders, slowBodies), logs)
	assert.Regexp(t, `msg=drained took=\S+ exit_status=0`, logs)

	// Every slow connection was closed by serve; those cut in their body got a 503.
	answered := 0
	for i, c := range slow {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second))) // a safety bound
		got, err := io.ReadAll(c)
		require.NoError(t, err, "connection %d was not closed", i)
		if strings.HasPrefix(string(got), "HTTP/1.1 503 ") {
			assert.Contains(t, string(got), `"type":"Draining"`)
			answered++
		}
	}
	assert.Equal(t, slowBodies, answered)
}

// metric returns the value of a gauge without labels in a /metrics page, or -1.
func metric(page, name string) int {
	for _, line := range strings.Split(page, "\n") {
		var n int
		if _, err := fmt.Sscanf(line, name+" %d", &n); err == nil && strings.HasPrefix(line, name+" ") {
			return n
		}
	}
	return -1
}

// TestServeConnectionCap checks that serve never serves more connections than -max-conns:
// one more is accepted and waits for a slot, the others wait in the listen backlog, and
// all are served once a slot frees.
func TestServeConnectionCap(t *testing.T) {
	const limit = 20
	s := startServeBinary(t, append([]string{"-workers", "1", "-max-conns", fmt.Sprint(limit), "-body-timeout", "120s", "--"}, worker()...)...)
	addr := strings.TrimPrefix(s.base, "http://")
	pid := s.cmd.Process.Pid

	var slow []net.Conn
	for i := 0; i < 5*limit; i++ {
		slow = append(slow, slowClient(t, addr, "[1, "))
	}
	// serve's sockets: the listener, one per connection it serves, and the one client it
	// accepted to make room for (none of the slow ones is doing nothing, so it waits).
	eventually(t, "serve takes its share of the slow connections", func() bool { return openSockets(t, pid) == 2+limit })
	for i := 0; i < 20; i++ {
		require.LessOrEqual(t, openSockets(t, pid), 2+limit, "serve holds more connections than -max-conns allows")
		time.Sleep(10 * time.Millisecond)
	}

	// A call on a new connection waits in the backlog until the slow clients give up
	// their slots.
	answer := make(chan int, 1)
	go func() {
		code, _ := postRaw(t, addr, "/call/echo", `["queued"]`)
		answer <- code
	}()
	for _, c := range slow {
		c.Close()
	}
	assert.Equal(t, 200, <-answer)

	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, exitOK, s.wait(t, 60*time.Second), s.logs.String())
}

// TestServeMemoryBound posts 64 MiB bodies of empty arrays, the body that took serve to
// 1.7 GB when it parsed whole bodies into Go values. Now bodies are converted as they are
// read and refused at the first limit they pass. The bound is a loose safety net, not a
// measurement: the numbers are in the report.
func TestServeMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 192 MiB")
	}
	var body strings.Builder
	body.WriteString("[")
	for body.Len() < 64<<20-3 {
		body.WriteString("[],")
	}
	body.WriteString("[]]")
	for _, c := range []struct {
		flags []string
		code  int
		want  string
	}{
		{nil, 413, "larger than the limit of 8388608 bytes set by -max-body"},
		{[]string{"-max-body", "64MiB", "-max-values", "4194300"}, 400, "more than 4194300 values"},
	} {
		s := startServeBinary(t, append(append([]string{"-workers", "1"}, c.flags...), append([]string{"--"}, worker()...)...)...)
		addr := strings.TrimPrefix(s.base, "http://")
		var wg sync.WaitGroup
		for i := 0; i < 3; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, msg := postRaw(t, addr, "/call/echo", body.String())
				assert.Equal(t, c.code, code, "%q", c.flags)
				assert.Contains(t, msg, c.want, "%q", c.flags)
			}()
		}
		wg.Wait()
		peak := peakRSS(t, s.cmd.Process.Pid)
		t.Logf("serve %q: peak RSS %d MiB after three 64 MiB bodies at once", c.flags, peak>>20)
		assert.Less(t, peak, int64(300<<20), "serve's peak RSS")
		code, _, _ := post(t, s.base+"/call/echo", "[1]")
		assert.Equal(t, 200, code)
		require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
		assert.Equal(t, exitOK, s.wait(t, 60*time.Second), s.logs.String())
	}
}

// postRaw sends a request on its own connection, writing the body while it reads the
// answer (which may come before the body is all sent), and returns the status and the
// error message.
func postRaw(t *testing.T, addr, path, body string) (int, string) {
	c, err := net.Dial("tcp", addr)
	if !assert.NoError(t, err) {
		return 0, ""
	}
	defer c.Close()
	go func() {
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", path, len(body))
		_, _ = io.WriteString(c, body) // fails once serve has answered and closed: expected
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if !assert.NoError(t, err) {
		return 0, ""
	}
	defer resp.Body.Close()
	var v struct {
		Error struct{ Message string } `json:"error"`
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &v)
	return resp.StatusCode, v.Error.Message
}

// TestServeSecondSignalStopsTheDrain: a second SIGTERM (or Ctrl-C) during the drain stops
// serve now: the call that would hold the drain up to -drain fails, the workers are killed,
// and serve exits 3. The second signal was lost, and the drain ran its course (a minute
// here).
func TestServeSecondSignalStopsTheDrain(t *testing.T) {
	s := startServeBinary(t, append([]string{"-workers", "1", "-drain", "60s", "--"}, worker()...)...)
	pids, _ := workerPids(t, s.base)
	require.Len(t, pids, 1)
	running := callInBackground(s.base, "sleep", "[600000]")
	eventually(t, "the call runs", func() bool {
		_, body := getURL(t, s.base+"/workers")
		return strings.Contains(body, `"in_flight": 1`)
	})

	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	eventually(t, "the drain began", func() bool { return strings.Contains(s.logs.String(), "msg=draining") })
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, exitFailure, s.wait(t, 30*time.Second), "the drain was cut short:\n%s", s.logs)
	a := <-running
	require.NoError(t, a.err, "the call cut short is answered, not left without an answer")
	assert.Equal(t, http.StatusServiceUnavailable, a.code, a.body)
	assert.Contains(t, a.body, `"type":"Stopping"`)
	assert.Contains(t, a.body, "a second SIGTERM or SIGINT")
	logs := s.logs.String()
	assert.Contains(t, logs, "a second signal during the drain: stopping now")
	assert.Regexp(t, fmt.Sprintf(`msg=drained took=\S+ exit_status=%d`, exitFailure), logs)
	assert.False(t, alive(pids[0]), "the worker was killed")
}

// A call still running when -drain runs out is answered 503 Stopping, saying so, before
// serve closes its connection (it was closed without an answer).
func TestServeDrainLimitAnswersTheCallsItCuts(t *testing.T) {
	s := startServeBinary(t, append([]string{"-workers", "1", "-drain", "1s", "--"}, worker()...)...)
	running := callInBackground(s.base, "sleep", "[600000]")
	eventually(t, "the call runs", func() bool {
		_, body := getURL(t, s.base+"/workers")
		return strings.Contains(body, `"in_flight": 1`)
	})
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, exitFailure, s.wait(t, 30*time.Second), s.logs.String())
	a := <-running
	require.NoError(t, a.err, "the call cut by the drain's limit is answered")
	assert.Equal(t, http.StatusServiceUnavailable, a.code, a.body)
	assert.Contains(t, a.body, `"type":"Stopping"`)
	assert.Contains(t, a.body, "-drain (1s) ran out")
	assert.Contains(t, s.logs.String(), "calls still running after -drain")
}

// A client that does not read its answer holds the drain for answerCutWithin past -drain,
// not for -write-timeout: its connection is then closed. Without that bound serve waited
// the 5 minutes of -write-timeout here.
func TestServeDrainClosesAConnectionWhoseAnswerIsNotRead(t *testing.T) {
	const size = 16 << 20 // more than the kernel's socket buffers hold
	s := startServeBinary(t, append([]string{"-workers", "1", "-drain", "1s", "-write-timeout", "5m",
		"-max-result-inflight", "20MiB", "--"}, worker()...)...)
	stalled := stallOn(t, strings.TrimPrefix(s.base, "http://"), "big", fmt.Sprintf("[%d]", size), 200)
	defer stalled.Close()

	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, exitFailure, s.wait(t, 60*time.Second), s.logs.String()) // a safety bound, far below 5 minutes
	assert.Contains(t, s.logs.String(), "calls still running after -drain")
	require.NoError(t, stalled.SetReadDeadline(time.Now().Add(10*time.Second)))
	n, err := io.Copy(io.Discard, stalled)
	require.NoError(t, err, "serve closed the connection")
	assert.Less(t, n, int64(size), "the answer was cut, not written whole")
}

// answer is what an HTTP call got: its status and body, or the error that ended it.
type answer struct {
	code int
	body string
	err  error
}

// callInBackground posts params to method and reports the answer on the channel it returns.
func callInBackground(base, method, params string) <-chan answer {
	done := make(chan answer, 1)
	go func() {
		var a answer
		resp, err := http.Post(base+"/call/"+method, "application/json", strings.NewReader(params))
		if err == nil {
			var b []byte
			b, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			a.code, a.body = resp.StatusCode, string(b)
		}
		a.err = err
		done <- a
	}()
	return done
}
