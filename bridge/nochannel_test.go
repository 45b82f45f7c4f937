package bridge

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNoChannelProcess(t *testing.T) {
	checkNoLeaks(t)
	var logs syncBuffer
	p := start(t, child("plain"), WithChannel(ChannelNone), WithStderr(&logs))
	pid := strconv.Itoa(p.Pid())
	eventually(t, "stdout and stderr relayed", func() bool {
		return strings.Count(logs.String(), "plain child "+pid) == 2
	})
	assert.Contains(t, logs.String(), "bridge.test["+pid+"] plain child "+pid+" on stdout")
	assert.Equal(t, ReadyInfo{}, p.Ready(), "no handshake")

	ctx := context.Background()
	for _, err := range []error{p.Call(ctx, "pid", nil, nil), p.Send(ctx, 1), p.Notify(ctx, "x")} {
		assert.ErrorIs(t, err, ErrNoChannel)
		assert.ErrorContains(t, err, "bridge.test (pid "+pid+")")
	}
	p.Handle("x", nil) // no-ops, not panics
	p.OnMessage(nil)
	assert.Zero(t, p.InFlight())

	require.NoError(t, p.Close(), "SIGTERM, and the child exits 0")
	require.NoError(t, p.Wait())
}

// startPlain starts a "plain" child and waits until it has set up its signals (it says
// so on stdout): a child without a channel is ready as soon as it started, before that.
func startPlain(t *testing.T, args []string, opts ...Option) *Process {
	var logs syncBuffer
	p := start(t, child("plain", args...), append([]Option{WithChannel(ChannelNone), WithStderr(&logs)}, opts...)...)
	eventually(t, "the child up", func() bool { return strings.Contains(logs.String(), "on stdout") })
	return p
}

func TestNoChannelStop(t *testing.T) {
	t.Run("a server that dies of SIGTERM stopped cleanly", func(t *testing.T) {
		checkNoLeaks(t)
		p := startPlain(t, []string{"die_of_term"})
		assert.NoError(t, p.Close())
		assert.Equal(t, -1, p.ExitCode(), "killed by the signal")
	})
	t.Run("a server that ignores SIGTERM gets SIGKILL after the grace period", func(t *testing.T) {
		checkNoLeaks(t)
		p := startPlain(t, []string{"ignore_term"}, WithGracePeriods(100*time.Millisecond, time.Hour))
		err := p.Close()
		var ee *ExitError
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, syscall.SIGKILL, ee.Signal)
	})
	t.Run("a server that exits by itself", func(t *testing.T) {
		checkNoLeaks(t)
		p := start(t, child("plain", "exit", "4"), WithChannel(ChannelNone))
		var ee *ExitError
		require.ErrorAs(t, p.Wait(), &ee)
		assert.Equal(t, 4, ee.Code)
		assert.Contains(t, ee.Stderr, "plain child "+strconv.Itoa(p.Pid())+" on stderr")
	})
	t.Run("SIGTERM it was not asked for is a failure", func(t *testing.T) {
		checkNoLeaks(t)
		p := startPlain(t, []string{"die_of_term"})
		p.Signal(syscall.SIGTERM)
		var ee *ExitError
		require.ErrorAs(t, p.Wait(), &ee)
		assert.Equal(t, syscall.SIGTERM, ee.Signal)
	})
}

func TestNoChannelOptions(t *testing.T) {
	ctx := context.Background()
	h := func(context.Context, Args) (any, error) { return nil, nil }
	_, err := Start(ctx, child("plain"), WithChannel(ChannelNone), WithHandler("x", h), OnMessage(func(any) {}))
	require.ErrorIs(t, err, ErrInvalidOption)
	requireContains(t, err, "WithHandler: host methods are called over the channel, and a child started with ChannelNone has no channel",
		"OnMessage: messages and notifications come over the channel")
	_, err = NewPool(ctx, child("plain"), WithChannel(ChannelNone), WithMaxJobs(5), WithMaxIdle(time.Second), WithExecTimeout(time.Second))
	requireContains(t, err, "WithMaxJobs: jobs are calls", "WithMaxIdle: idle means no call", "WithExecTimeout: it bounds calls")
	c, ok := ParseChannel("none")
	assert.True(t, ok)
	assert.Equal(t, ChannelNone, c)
	assert.Equal(t, "none", c.String())
}

func TestNoChannelPool(t *testing.T) {
	checkNoLeaks(t)
	p := newPool(t, child("plain", "exit", "1"), WithChannel(ChannelNone), WithWorkers(1),
		WithRestartBackoff(time.Millisecond, time.Millisecond, time.Hour))
	eventually(t, "restarted after exiting", func() bool { return p.Stats().Workers[0].Restarts >= 2 })
	assert.Contains(t, p.Stats().Workers[0].LastExit, "exited with status 1")
	require.NoError(t, p.Close())
}

// TestNoChannelPoolReloadWaitsForTheOldWorkers: Reload returns once the workers it replaced
// are gone. Workers without a channel have no Conn, and Reload's check for a handler
// serving the old worker's call (servedBy) took their nil Conn for the caller's: it
// returned while they still ran (a cluster's SIGHUP logged "reloaded" with the old
// workers alive).
func TestNoChannelPoolReloadWaitsForTheOldWorkers(t *testing.T) {
	checkNoLeaks(t)
	// Old workers ignore SIGTERM: each ends only at the SIGKILL after the grace period.
	p := newPool(t, child("plain", "ignore_term"), WithChannel(ChannelNone), WithWorkers(2),
		WithGracePeriods(300*time.Millisecond, time.Hour))
	var old []int
	for _, w := range p.Stats().Workers {
		old = append(old, w.Pid)
	}
	require.NoError(t, p.Reload(context.Background()))
	for _, pid := range old {
		assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "old worker %d is gone when Reload returns", pid)
	}
	require.NoError(t, p.Close())
}
