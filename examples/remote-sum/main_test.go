package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/polyfork/polyfork/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func pythonPath(t *testing.T) string {
	src, err := filepath.Abs(filepath.Join("..", "..", "clients", "python", "src"))
	require.NoError(t, err)
	return "PYTHONPATH=" + src
}

func TestRemoteSum(t *testing.T) {
	s, err := remote.RunServer(remote.ServerConfig{})
	require.NoError(t, err)
	defer s.Shutdown()
	var logs testutil.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	agentNC, err := nats.Connect(s.ClientURL())
	require.NoError(t, err)
	defer agentNC.Close()
	agent, err := remote.NewAgent(ctx, agentNC, "sum", []string{testutil.Python(), "compute.py"},
		remote.AgentPool(bridge.WithWorkers(2), bridge.WithEnv(pythonPath(t)), bridge.WithStderr(&logs)))
	require.NoError(t, err)
	defer agent.Kill()

	hostNC, err := nats.Connect(s.ClientURL())
	require.NoError(t, err)
	defer hostNC.Close()
	workers, err := remote.Dial(ctx, hostNC, "sum")
	require.NoError(t, err)
	defer workers.Close()
	srv := httptest.NewServer(&host{workers: workers, logs: &logs})
	defer srv.Close()

	code, body := fetch(t, srv.URL+"/get-sum")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "sum is 4999950000", body)

	// A worker that crashes yields an error answer; its agent replaces it...
	code, body = fetch(t, srv.URL+"/get-sum?crash=1")
	assert.Equal(t, http.StatusBadGateway, code)
	assert.Equal(t, "error\n", body)
	assert.Contains(t, logs.String(), "crashing on purpose")
	assert.Contains(t, logs.String(), "exited with status 1")

	// ...and the host keeps serving, concurrently too.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body := fetch(t, srv.URL+"/get-sum")
			assert.Equal(t, http.StatusOK, code)
			assert.Equal(t, "sum is 4999950000", body)
		}()
	}
	wg.Wait()
	assert.Contains(t, logs.String(), "compute.py#", "the workers' prints went to the agent's log, tagged")

	// No agent: 503 at once, not a timeout.
	agent.Kill()
	code, _ = fetch(t, srv.URL+"/get-sum")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, logs.String(), "no agent serves the service \"sum\"")
}

// TestTwoCommands runs the README's two commands as processes: the agent with its NATS
// server inside, and the HTTP host.
func TestTwoCommands(t *testing.T) {
	dir := t.TempDir()
	for _, b := range []struct{ out, pkg string }{{"polyfork", "../../cmd/polyfork"}, {"remote-sum", "."}} {
		build := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
		build.Stderr = os.Stderr
		require.NoError(t, build.Run())
	}
	// Both listen on a port of the kernel's choosing and say which: a port picked free
	// beforehand could be taken by another process before they bind it.
	agent := exec.Command(filepath.Join(dir, "polyfork"), "agent", "-embed-nats", "127.0.0.1:0", "-service", "sum", "-workers", "2",
		"--", testutil.Python(), "compute.py")
	agent.Env = append(os.Environ(), pythonPath(t))
	agentLog := &testutil.Buffer{}
	agent.Stderr = agentLog
	require.NoError(t, agent.Start())
	defer stopProcess(agent)
	testutil.Eventually(t, "the agent to serve", func() bool { return strings.Contains(agentLog.String(), `serving "sum"`) })
	m := regexp.MustCompile(`NATS server listening on (nats://\S+)`).FindStringSubmatch(agentLog.String())
	require.NotNil(t, m, agentLog.String())

	hostCmd := exec.Command(filepath.Join(dir, "remote-sum"), "-nats", m[1], "-addr", "127.0.0.1:0")
	out, err := hostCmd.StdoutPipe()
	require.NoError(t, err)
	hostCmd.Stderr = os.Stderr
	require.NoError(t, hostCmd.Start())
	defer stopProcess(hostCmd)
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	listening := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+/get-sum)`).FindStringSubmatch(line)
	require.NotNil(t, listening, line)

	code, body := fetch(t, listening[1])
	assert.Equal(t, http.StatusOK, code, agentLog.String())
	assert.Equal(t, "sum is 4999950000", body)
}

func stopProcess(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}
