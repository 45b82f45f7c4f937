package remote_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/polyfork/polyfork/remote"
	"github.com/stretchr/testify/require"
)

// worker is the command of the test worker, testdata/worker.py.
func worker() []string {
	return []string{testutil.Python(), filepath.Join("testdata", "worker.py")}
}

// workerEnv lets the worker import the Python client from the repository.
func workerEnv(extra ...string) bridge.Option {
	return bridge.WithEnv(append([]string{"PYTHONPATH=" + filepath.Join("..", "clients", "python", "src")}, extra...)...)
}

// runServer starts an embedded NATS server for one test.
func runServer(t *testing.T, cfg remote.ServerConfig) *remote.Server {
	t.Helper()
	s, err := remote.RunServer(cfg)
	require.NoError(t, err)
	t.Cleanup(s.Shutdown)
	return s
}

// connect opens a NATS connection that reconnects quickly, closed at the end of the test.
func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.ReconnectWait(20*time.Millisecond), nats.MaxReconnects(-1))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// startAgent starts an agent of service with one worker (unless opts say otherwise).
func startAgent(t *testing.T, url, service string, opts ...remote.AgentOption) *remote.Agent {
	t.Helper()
	nc := connect(t, url)
	opts = append([]remote.AgentOption{remote.AgentPool(bridge.WithWorkers(1), bridge.WithConcurrency(8), workerEnv(),
		bridge.WithStderr(testWriter{t}))}, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := remote.NewAgent(ctx, nc, service, worker(), opts...)
	require.NoError(t, err)
	t.Cleanup(a.Kill)
	return a
}

// dial opens a remote pool, closed at the end of the test.
func dial(t *testing.T, url, service string, opts ...remote.Option) *remote.Pool {
	t.Helper()
	nc := connect(t, url)
	p, err := remote.Dial(context.Background(), nc, service, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

// testWriter sends the workers' stderr to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// inbox collects what callbacks receive.
type inbox struct {
	mu    sync.Mutex
	items []any
}

func (b *inbox) add(v any) {
	b.mu.Lock()
	b.items = append(b.items, v)
	b.mu.Unlock()
}

func (b *inbox) all() []any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]any(nil), b.items...)
}

func (b *inbox) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.items)
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
