package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/polyfork/polyfork/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// build compiles the package in dir into a temporary directory.
func build(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "prog")
	out, err := exec.Command("go", "build", "-o", bin, dir).CombinedOutput()
	require.NoError(t, err, "go build %s\n%s", dir, out)
	return bin
}

// TestHostAndPool runs the program as README.md shows it: "python3 worker.py" beside it,
// python3 being POLYFORK_PYTHON's interpreter.
func TestHostAndPool(t *testing.T) {
	python := testutil.LookInterpreter(t, "POLYFORK_PYTHON", "python3")
	path := t.TempDir()
	require.NoError(t, os.Symlink(python, filepath.Join(path, "python3")))
	src, err := filepath.Abs("../../clients/python/src")
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stderr testutil.Buffer
	cmd := exec.CommandContext(ctx, build(t, "."))
	cmd.Env = append(os.Environ(), "PATH="+path+string(os.PathListSeparator)+os.Getenv("PATH"), "PYTHONPATH="+src)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	assert.Contains(t, string(out), "42\n")
	assert.Contains(t, string(out), "child says map[echo:start]\n", "the worker's answer to the message arrives before Close returns")
	assert.Contains(t, string(out), "the pool says 3\n")
	assert.Contains(t, stderr.String(), "got start", "the worker's print() reaches the host's stderr")
	assert.Contains(t, stderr.String(), "worker started", "WithLogger(slog.Default())")
}

// TestGoChild runs README.md's Go child under a host.
func TestGoChild(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	messages := make(chan any, 1)
	p, err := bridge.Start(ctx, []string{build(t, "./gochild")}, bridge.OnMessage(func(v any) { messages <- v }))
	require.NoError(t, err)
	defer p.Kill()

	var sum int
	require.NoError(t, p.Call(ctx, "add", []any{40, 2}, &sum))
	assert.Equal(t, 42, sum)
	require.NoError(t, p.Send(ctx, map[string]any{"hello": "world"}))
	select {
	case v := <-messages:
		assert.Equal(t, map[string]any{"hello": "world"}, v)
	case <-ctx.Done():
		t.Fatal("the Go child did not send the message back")
	}
	require.NoError(t, p.Shutdown(ctx), "the Go child stops cleanly at $stop")
}

// TestRemoteSum runs README.md's remote pool against an embedded NATS server and an agent
// of examples/remote-sum/compute.py.
func TestRemoteSum(t *testing.T) {
	python := testutil.LookInterpreter(t, "POLYFORK_PYTHON", "python3")
	src, err := filepath.Abs("../../clients/python/src")
	require.NoError(t, err)
	s, err := remote.RunServer(remote.ServerConfig{})
	require.NoError(t, err)
	defer s.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	nc, err := nats.Connect(s.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	agent, err := remote.NewAgent(ctx, nc, "sum", []string{python, "../remote-sum/compute.py"},
		remote.AgentPool(bridge.WithWorkers(1), bridge.WithEnv("PYTHONPATH="+src)))
	require.NoError(t, err)
	defer agent.Kill()

	res, err := remoteSum(ctx, s.ClientURL())
	require.NoError(t, err)
	assert.Equal(t, int64(4999950000), res.Sum)
	assert.Positive(t, res.Pid)
}
