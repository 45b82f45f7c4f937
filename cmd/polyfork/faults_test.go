package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

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

// slowWriter takes each write after a pause, as a slow reader of a pipe does.
type slowWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(50 * time.Millisecond)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *slowWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// polyfork send prints every message the child sent however slowly its stdout is read,
// past the child's grace periods (100 lines at 50 ms: 5 s, above the 4 s of the two grace
// periods, after which Process.Close drops what the host has not handled).
func TestSendPrintsEverythingToASlowStdout(t *testing.T) {
	var in strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&in, "%d\n", i)
	}
	var out slowWriter
	var errb bytes.Buffer
	code := run(context.Background(), append([]string{"send", "--"}, raw("serve")...), strings.NewReader(in.String()), &out, &errb)
	require.Equal(t, exitOK, code, errb.String())
	require.Equal(t, 100, strings.Count(out.String(), "\n"), errb.String())
}
