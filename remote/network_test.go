package remote_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/polyfork/polyfork/remote"
	"github.com/stretchr/testify/require"
)

// Under a max_payload smaller than the object store's chunks (128 KiB), bodies above it
// still travel through the object store, both ways: every chunk used to be refused
// ("nats: maximum payload exceeded"), and the error told the user to enable the JetStream
// the server had.
func TestLargeBodiesTravelUnderASmallMaxPayload(t *testing.T) {
	s := runServer(t, remote.ServerConfig{MaxPayload: 16 << 10})
	startAgent(t, s.ClientURL(), "small")
	p := dial(t, s.ClientURL(), "small")
	ctx := ctxFor(t, 30*time.Second)
	in := strings.Repeat("y", 300<<10) // several chunks of the default size
	var out string
	require.NoError(t, p.Call(ctx, "echo", []any{in}, &out), "params and result above max_payload")
	require.Equal(t, in, out)
	var b []byte
	require.NoError(t, p.Call(ctx, "big", []any{50 << 10}, &b), "a result above max_payload")
	require.True(t, bytes.Equal(bytes.Repeat([]byte("x"), 50<<10), b))
	require.NoError(t, p.Send(ctx, strings.Repeat("m", 50<<10)), "a message above max_payload")
}
