package remote_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/remote"
	"github.com/stretchr/testify/require"
)

// A call made while the NATS server restarts waits for the connection, and once it is back
// it gives the agents the heartbeat bound to subscribe again, as a call in flight at the
// drop does, instead of failing at once with ErrNoAgents because its caller reconnected
// first.
func TestACallMadeDuringAnOutageWaitsForTheAgents(t *testing.T) {
	s := runServer(t, remote.ServerConfig{Addr: "127.0.0.1:0"})
	addr, url := s.Addr().String(), s.ClientURL()
	// The agent reconnects more slowly than the caller, as happens with jittered waits.
	anc, err := nats.Connect(url, nats.ReconnectWait(400*time.Millisecond), nats.MaxReconnects(-1), nats.ReconnectJitter(0, 0))
	require.NoError(t, err)
	t.Cleanup(anc.Close)
	a, err := remote.NewAgent(ctxFor(t, 20*time.Second), anc, "outage", worker(),
		remote.AgentPool(bridge.WithWorkers(1), workerEnv()))
	require.NoError(t, err)
	t.Cleanup(a.Kill)
	p := dial(t, url, "outage")
	ctx := ctxFor(t, 30*time.Second)
	var sum int64
	require.NoError(t, p.Call(ctx, "add", []any{1, 2}, &sum))

	s.Shutdown()
	done := make(chan error, 1)
	go func() {
		time.Sleep(50 * time.Millisecond) // made while the connection is down
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		done <- p.Call(c, "add", []any{2, 3}, &sum)
	}()
	time.Sleep(150 * time.Millisecond)
	runServer(t, remote.ServerConfig{Addr: addr})
	require.NoError(t, <-done)
	require.Equal(t, int64(5), sum)
}

// An Idempotent call whose agent went silent mid-call is sent again; when no agent is
// left to take it, its error still says that it may have run (ErrAgentLost), not only
// ErrNoAgents, which means "not run".
func TestARetriedCallThatMayHaveRunDoesNotSayNotRun(t *testing.T) {
	s := runServer(t, remote.ServerConfig{})
	nc := connect(t, s.ClientURL())
	a, err := remote.NewAgent(ctxFor(t, 20*time.Second), nc, "gone", worker(),
		remote.AgentPool(bridge.WithWorkers(1), workerEnv()))
	require.NoError(t, err)
	t.Cleanup(a.Kill)
	p := dial(t, s.ClientURL(), "gone", remote.WithHeartbeat(400*time.Millisecond))
	errc := make(chan error, 1)
	go func() { errc <- p.Call(ctxFor(t, 20*time.Second), "sleep", []any{1500}, nil, bridge.Idempotent()) }()
	require.Eventually(t, func() bool { return a.Stats().InFlight == 1 }, 10*time.Second, 5*time.Millisecond)
	nc.Close() // the only agent is cut off: it ran the call, and nobody else serves the name
	err = <-errc
	require.ErrorIs(t, err, remote.ErrAgentLost)
	require.Contains(t, err.Error(), "no agent serves")
}
