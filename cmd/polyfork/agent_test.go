package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/polyfork/polyfork/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// remoteWorker is the command of the remote package's test worker.
func remoteWorker() []string {
	return []string{testutil.Python(), filepath.Join("..", "..", "remote", "testdata", "worker.py")}
}

// withPythonPath lets workers started by in-process agents import the Python client.
func withPythonPath(t *testing.T) {
	src, err := filepath.Abs(filepath.Join("..", "..", "clients", "python", "src"))
	require.NoError(t, err)
	t.Setenv("PYTHONPATH", src)
}

// natsServer starts an embedded NATS server for one test.
func natsServer(t *testing.T, cfg remote.ServerConfig) *remote.Server {
	t.Helper()
	s, err := remote.RunServer(cfg)
	require.NoError(t, err)
	t.Cleanup(s.Shutdown)
	return s
}

// background runs the command args in-process until the test ends; it returns its stderr
// and a function that stops it (as SIGTERM does) and returns its exit status.
func background(t *testing.T, args ...string) (*syncLog, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncLog{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, strings.NewReader(""), io.Discard, logs) }()
	code, stopped := 0, false
	stop := func() int {
		if !stopped {
			stopped = true
			cancel()
			code = <-done
		}
		return code
	}
	t.Cleanup(func() { stop() })
	return logs, stop
}

type syncLog struct{ testutil.Buffer }

var gatewayRE = regexp.MustCompile(`msg=listening url=(http://[^ ]+)`)

func TestAgentCallAgentsServe(t *testing.T) {
	withPythonPath(t)
	s := natsServer(t, remote.ServerConfig{})
	url := s.ClientURL()
	agentLog, stopAgent := background(t, append([]string{"agent", "-nats", url, "-service", "calc", "-workers", "1",
		"-concurrency", "4", "--"}, remoteWorker()...)...)
	testutil.Eventually(t, "the agent to serve", func() bool { return strings.Contains(agentLog.String(), "serving \"calc\"") })

	r := polyfork(t, "", "call", "-nats", url, "-service", "calc", "add", "[40, 2]")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "42\n", r.stdout)

	r = polyfork(t, "", "call", "-nats", url, "-service", "calc", "-idempotent", "echo", `[{"b": [1, 2.5, null]}]`)
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, `{"b":[1,2.5,null]}`+"\n", r.stdout)

	r = polyfork(t, "", "call", "-nats", url, "-service", "calc", "fail", `["bad value"]`)
	assert.Equal(t, exitRaised, r.code)
	assert.Contains(t, r.stderr, `"fail" raised WorkerError: bad value`)
	assert.Contains(t, r.stderr, "raise WorkerError(message)", "the traceback")

	r = polyfork(t, "", "call", "-nats", url, "-service", "nobody", "add", "[1, 2]")
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, `no agent serves the service "nobody"`)

	r = polyfork(t, "", "call", "-nats", url, "-service", "calc", "-timeout", "300ms", "sleep", "[60000]")
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "timed out after 300ms")

	// The agent ends the call at the deadline that came with it, a moment after the caller.
	testutil.Eventually(t, "the timed out call to end at the agent", func() bool {
		r := polyfork(t, "", "agents", "-nats", url, "-json")
		return strings.Contains(r.stdout, `"in_flight": 0`)
	})
	r = polyfork(t, "", "agents", "-nats", url, "-service", "calc")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "calc")
	assert.Contains(t, r.stdout, "1/1 ready")
	assert.Contains(t, r.stdout, `Timeout: bridge: call "sleep": context deadline exceeded`, "the last error")
	assert.Contains(t, r.stdout, "worker.py")

	r = polyfork(t, "", "agents", "-nats", url, "-json")
	assert.Equal(t, exitOK, r.code, r.stderr)
	var listed []remote.AgentInfo
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &listed))
	require.Len(t, listed, 1)
	assert.Equal(t, int64(4), listed[0].Stats.Served) // add, echo, and the two that failed
	assert.NotZero(t, listed[0].Stats.Pool.Workers[0].Pid)

	// The HTTP gateway in front of the agents.
	gwLog, stopGateway := background(t, "serve", "-nats", url, "-service", "calc", "-addr", "127.0.0.1:0")
	var base string
	testutil.Eventually(t, "the gateway to listen", func() bool {
		m := gatewayRE.FindStringSubmatch(gwLog.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	})
	code, body := httpDo(t, http.MethodPost, base+"/call/add", "[2, 3]")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "5\n", body)
	code, body = httpDo(t, http.MethodPost, base+"/call/fail", `["nope"]`)
	assert.Equal(t, http.StatusInternalServerError, code)
	assert.Contains(t, body, `"type":"WorkerError"`)
	assert.Contains(t, body, "raise WorkerError(message)")
	code, body = httpDo(t, http.MethodPost, base+"/call/add", `{"a": 1}`)
	assert.Equal(t, http.StatusBadRequest, code, body)
	code, body = httpDo(t, http.MethodGet, base+"/healthz", "")
	assert.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, `"ready_workers":1`)
	code, body = httpDo(t, http.MethodGet, base+"/agents", "")
	assert.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, `"service": "calc"`)

	// SIGHUP reloads a local pool; with -nats the workers are the agents', and serve goes on.
	require.NoError(t, syscall.Kill(syscall.Getpid(), syscall.SIGHUP)) // serve runs in this process
	testutil.Eventually(t, "SIGHUP seen", func() bool { return strings.Contains(gwLog.String(), "nothing to reload here") })
	code, body = httpDo(t, http.MethodPost, base+"/call/add", "[2, 3]")
	assert.Equal(t, http.StatusOK, code, body)

	assert.Equal(t, exitOK, stopAgent(), agentLog.String())
	code, body = httpDo(t, http.MethodPost, base+"/call/add", "[2, 3]")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "NoAgents")
	assert.Equal(t, exitOK, stopGateway(), gwLog.String())
}

func TestAgentEmbedsNATS(t *testing.T) {
	withPythonPath(t)
	logs, stop := background(t, append([]string{"agent", "-embed-nats", "127.0.0.1:0", "-service", "solo", "-workers", "1", "--"},
		remoteWorker()...)...)
	testutil.Eventually(t, "the agent to serve", func() bool { return strings.Contains(logs.String(), "serving \"solo\"") })
	assert.Regexp(t, `NATS server listening on nats://127\.0\.0\.1:\d+ \(loopback only`, logs.String())
	r := polyfork(t, "", "call", "-nats", embeddedURL(t, logs), "-service", "solo", "add", "[1, 2]")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "3\n", r.stdout)
	assert.Equal(t, exitOK, stop(), logs.String())
}

// TestAgentChildFlags: the agent starts its workers with the flags every command that
// starts children takes (environment, channel, limits), as serve does.
func TestAgentChildFlags(t *testing.T) {
	withPythonPath(t)
	t.Setenv("POLYFORK_TEST_SECRET", "host-only")
	logs, stop := background(t, append([]string{"agent", "-embed-nats", "127.0.0.1:0", "-service", "envy", "-workers", "1",
		"-channel", "fd", "-allow-env", "PATH,PYTHONPATH", "-env", "GREETING=hi", "-rlimit-nofile", "256", "--"},
		remoteWorker()...)...)
	testutil.Eventually(t, "the agent to serve", func() bool { return strings.Contains(logs.String(), "serving \"envy\"") })
	url := embeddedURL(t, logs)
	for name, want := range map[string]string{"GREETING": "\"hi\"\n", "POLYFORK_TEST_SECRET": "null\n", "POLYFORK_CHANNEL_FDS": "null\n"} {
		r := polyfork(t, "", "call", "-nats", url, "-service", "envy", "getenv", `["`+name+`"]`)
		assert.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, want, r.stdout, name)
	}
	assert.Equal(t, exitOK, stop(), logs.String())

	r := polyfork(t, "", "agent", "-nats", "nats://x", "-service", "s", "-channel", "pigeon", "--", "x")
	assert.Equal(t, exitUsage, r.code, r.stderr)
	assert.Contains(t, r.stderr, `-channel "pigeon": want stdio or fd`)
}

func TestAgentUsage(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no service", []string{"agent", "-nats", "nats://127.0.0.1:1", "--", "x"}, "-service NAME is required"},
		{"no server", []string{"agent", "-service", "s", "--", "x"}, "a NATS server is needed: give -nats URL (one to join) or -embed-nats [ADDR] (start one here)\n"},
		{"both servers", []string{"agent", "-nats", "nats://x", "-embed-nats", "-service", "s", "--", "x"}, "not both"},
		{"no command", []string{"agent", "-nats", "nats://x", "-service", "s"}, `want "-- COMMAND [ARG...]"`},
		{"half a certificate", []string{"agent", "-nats", "nats://x", "-service", "s", "-tls-cert", "c.pem", "--", "x"}, "-tls-cert and -tls-key go together"},
		{"durable method without durable", []string{"agent", "-nats", "nats://x", "-service", "s", "-durable-method", "job", "--", "x"}, "-durable-method needs -durable"},
		{"bad service name", []string{"call", "-nats", "nats://127.0.0.1:1", "-service", "a.b", "add", "[]"}, `-service: service name "a.b": use letters`},
		{"agent with a bad service name", []string{"agent", "-embed-nats", "127.0.0.1:0", "-service", "*", "--", "x"}, `-service: service name "*": use letters`},
		{"service name too long", []string{"serve", "-nats", "nats://x", "-service", strings.Repeat("s", 201)}, "is too long: at most 200 bytes"},
		{"call without service", []string{"call", "-nats", "nats://x", "add", "[]"}, "-service NAME is required"},
		{"call params not an array", []string{"call", "-nats", "nats://x", "-service", "s", "add", "{}"}, "must be a JSON array"},
		{"serve with a command", []string{"serve", "-nats", "nats://x", "-service", "s", "--", "python3"}, ""},
		{"agents without a server", []string{"agents"}, "-nats URL is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := polyfork(t, "", c.args...)
			assert.Equal(t, exitUsage, r.code, r.stderr)
			assert.NotContains(t, r.stderr, "NATS server listening", "checked before anything starts")
			assert.Contains(t, r.stderr, c.stderr)
		})
	}
	r := polyfork(t, "", "call", "-nats", "nats://127.0.0.1:1", "-service", "s", "add", "[1]")
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "connecting to NATS at nats://127.0.0.1:1")

	for _, c := range []string{"agent", "agents"} {
		r = polyfork(t, "", "help", c)
		assert.Equal(t, exitOK, r.code)
		assert.Contains(t, r.stdout, "usage: polyfork "+c)
		assert.Contains(t, r.stdout, "-service")
	}
	r = polyfork(t, "", "call", "-nats", "nats://x", "-h")
	assert.Equal(t, exitOK, r.code)
	assert.Contains(t, r.stdout, "usage: polyfork call -nats URL -service NAME")
}

func httpDo(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// embeddedURL returns the URL of the NATS server an in-process agent started with
// -embed-nats 127.0.0.1:0 (a port of the kernel's choosing, so that no other process can
// take it first) said it listens on.
func embeddedURL(t *testing.T, logs *syncLog) string {
	t.Helper()
	m := natsURLRE.FindStringSubmatch(logs.String())
	require.NotNil(t, m, "no NATS server named in:\n%s", logs.String())
	return m[1]
}

// TestNATSConnectErrorSaysWhy: nats.go reports a server it could not reach as "no servers
// available for connection", whatever the cause; the commands add the cause of the last
// attempt (docs/faults.md).
func TestNATSConnectErrorSaysWhy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "nats://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	for _, args := range [][]string{
		{"call", "-nats", url, "-service", "s", "m", "[]"},
		{"agents", "-nats", url},
	} {
		r := polyfork(t, "", args...)
		assert.Equal(t, exitFailure, r.code, r.stderr)
		assert.Contains(t, r.stderr, "connecting to NATS at "+url+": nats: no servers available for connection (dial tcp "+ln.Addr().String()+": connect: connection refused)")
	}
}

// When the NATS server refuses the credentials on reconnecting (rotated or revoked while
// they ran), nats.go closes the connection for good, whatever MaxReconnects says. The agent
// then served nothing, listed nowhere, and serve -nats answered every call 503, both for as
// long as they ran. They now stop, exit 3, saying why.
func TestCommandsExitWhenNATSClosesForGood(t *testing.T) {
	withPythonPath(t)
	for _, c := range []struct {
		name, ready string
		args        func(url string) []string
	}{
		{"agent", `serving "creds"`, func(url string) []string {
			return append([]string{"agent", "-nats", url, "-service", "creds", "-workers", "1", "--"}, remoteWorker()...)
		}},
		{"serve", "msg=listening", func(url string) []string {
			return []string{"serve", "-addr", "127.0.0.1:0", "-nats", url, "-service", "creds"}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The strict server below must take the same port once this one is shut down.
			open := natsServer(t, remote.ServerConfig{}) // takes any credentials
			port := strconv.Itoa(open.Addr().(*net.TCPAddr).Port)
			logs := &syncLog{}
			done := make(chan int, 1)
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(func() {
				cancel()
				select {
				case <-done:
				case <-time.After(60 * time.Second):
					t.Errorf("%s did not stop", c.name)
				}
			})
			args := c.args("nats://u:p@127.0.0.1:" + port)
			go func() { done <- run(ctx, args, strings.NewReader(""), io.Discard, logs) }()
			testutil.Eventually(t, c.name+" to serve", func() bool { return strings.Contains(logs.String(), c.ready) })

			open.Shutdown()
			strict, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: mustAtoi(t, port), Username: "u", Password: "rotated",
				NoLog: true, NoSigs: true})
			require.NoError(t, err)
			strict.Start()
			t.Cleanup(func() { strict.Shutdown(); strict.WaitForShutdown() })
			require.True(t, strict.ReadyForConnections(10*time.Second))
			select {
			case code := <-done:
				done <- code // for the cleanup
				require.Equal(t, exitFailure, code, logs.String())
				require.Contains(t, logs.String(), "the NATS connection closed for good: nats: Authorization Violation")
			case <-time.After(60 * time.Second):
				t.Fatalf("%s still runs with its NATS connection closed:\n%s", c.name, logs.String())
			}
		})
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

// An agent whose connection to NATS turns into a black hole (a NAT or firewall that lost
// its state: nothing passes, neither end is told) notices within seconds and connects
// again. It relied on nats.go's default pings, every 2 minutes with two unanswered: it
// was gone from the service for about 6 minutes, every call failing with "no agent
// serves".
func TestAgentLeavesABlackHoledConnection(t *testing.T) {
	withPythonPath(t)
	s := natsServer(t, remote.ServerConfig{})
	pr := testutil.NewProxy(t, s.Addr().String())
	logs, stop := background(t, append([]string{"agent", "-nats", pr.URL(), "-service", "hole", "-workers", "1", "--"}, remoteWorker()...)...)
	testutil.Eventually(t, "the agent to serve", func() bool { return strings.Contains(logs.String(), `serving "hole"`) })
	nc, err := nats.Connect(s.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	p, err := remote.Dial(context.Background(), nc, "hole")
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	call := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return p.Call(ctx, "add", []any{1, 2}, nil)
	}
	require.NoError(t, call())

	pr.Blackhole()
	deadline := time.Now().Add(90 * time.Second)
	for call() == nil { // until the server has dropped it
		require.True(t, time.Now().Before(deadline), "the server never dropped the black-holed agent")
		time.Sleep(100 * time.Millisecond)
	}
	for {
		err := call()
		if err == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "the agent never came back: %v\n%s", err, logs.String())
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, exitOK, stop())
}
