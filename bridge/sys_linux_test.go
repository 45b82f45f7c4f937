package bridge

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A start still waiting for the forking thread when its context ends is abandoned, not
// forked then killed: a pool of 5,000 workers given 5 s took 63 s to return, forking every
// worker still in line.
func TestAStartWaitingForTheForkingThreadIsAbandoned(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	spawnHook = func() {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
	}
	t.Cleanup(func() { spawnHook = nil })
	busy := exec.Command("/bin/true")
	busyDone := make(chan error, 1)
	go func() { busyDone <- startCmd(context.Background(), busy) }()
	<-entered // the forking thread is busy with it

	ctx, cancel := context.WithCancel(context.Background())
	waiting := exec.Command("/bin/true")
	waitingDone := make(chan error, 1)
	go func() { waitingDone <- startCmd(ctx, waiting) }()
	time.Sleep(50 * time.Millisecond) // (lets it reach the line for the thread)
	cancel()
	select {
	case err := <-waitingDone:
		require.ErrorIs(t, err, context.Canceled)
		assert.Nil(t, waiting.Process, "not forked")
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("the start given up on waited for the forking thread")
	}
	close(release)
	require.NoError(t, <-busyDone)
	require.NoError(t, busy.Wait())
}
