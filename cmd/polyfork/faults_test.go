package main

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/polyfork/polyfork/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// eofOnlyChild is a minimal child, as one written in a new language without a client
// library often is: it sends $ready (the frame is its first argument, in hex), ignores
// every frame, and exits 0 at end of stdin, after writing a line it kept in a buffer.
const eofOnlyChild = `import os, sys
os.write(1, bytes.fromhex(sys.argv[1]))
log = open(2, "w", buffering=1 << 16, closefd=False)
log.write("buffered until exit\n")
sys.stdin.buffer.read()
`

// TestSendToAChildThatOnlyWatchesEndOfFile: polyfork send ends such a child with end of
// file as soon as it has sent $stop, not with SIGTERM after the grace period, so it exits
// 0 and what the child flushed on its way out reaches the log (docs/faults.md).
func TestSendToAChildThatOnlyWatchesEndOfFile(t *testing.T) {
	ready, err := protocol.NewEncoder().Notification(protocol.MethodReady,
		[]any{map[string]any{"protocol": 1, "lang": "python", "pid": 0, "lib": "eof-only"}})
	require.NoError(t, err)
	r := polyfork(t, "\"hello\"\n", "send", "--", testutil.Python(), "-c", eofOnlyChild, hex.EncodeToString(ready))
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "buffered until exit", "the child's last output was relayed")
	assert.False(t, strings.Contains(r.stderr, "signal"), "no signal was needed: %s", r.stderr)
}
