package bridge

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStartAtTheDescriptorLimitSaysSo: a host whose descriptors are all in use (ulimit -n
// reached) cannot create a child's pipes. The start error keeps EMFILE and names the limit;
// it said "cannot create pipes (out of file descriptors?)", the reason guessed and lost.
// Nothing is left open.
func TestStartAtTheDescriptorLimitSaysSo(t *testing.T) {
	checkNoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var old syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old))
	lowest, err := syscall.Dup(0) // the lowest free descriptor
	require.NoError(t, err)
	require.NoError(t, syscall.Close(lowest))
	limited := old
	limited.Cur = uint64(lowest)
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limited))
	p, err := Start(ctx, child("serve"), WithStderr(nil))
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old))
	if err == nil {
		p.Kill()
	}
	var se *StartError
	require.ErrorAs(t, err, &se)
	assert.ErrorIs(t, err, syscall.EMFILE)
	assert.Contains(t, err.Error(), "cannot create pipes: pipe2: too many open files (this process has as many descriptors open as its limit allows: raise ulimit -n (RLIMIT_NOFILE)")
}
