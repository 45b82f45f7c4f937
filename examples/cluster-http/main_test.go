package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/polyfork/polyfork/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dropped matches what Go's HTTP client says of a connection the server accepted and
// closed without an answer (a worker killed, or one that drops fresh connections when it
// stops): the only failure a cluster may cause.
const dropped = "connection reset by peer|EOF|server closed idle connection"

// TestDemo runs the demo for a few seconds: workers in three languages behind one port,
// a kill -9 and a reload under load. Nothing may be refused; every language answers
// from several workers.
func TestDemo(t *testing.T) {
	langs := []string{"python", "php", "node"}
	for _, lang := range langs {
		argv, _, err := worker(lang)
		require.NoError(t, err)
		_, err = exec.LookPath(argv[0])
		require.NoError(t, err, "%s is needed: run scripts/setup.sh", argv[0])
	}
	var logs testutil.Buffer
	c, err := startCluster(context.Background(), "127.0.0.1:0", langs, 2, &logs)
	require.NoError(t, err, logs.String())
	defer c.close()
	started := c.pids()

	var out bytes.Buffer
	r, err := demo(context.Background(), c, 3*time.Second, &out)
	require.NoError(t, err, "%s\n%s", out.String(), logs.String())
	r.print(&out)
	t.Log("\n" + out.String())

	assert.Zero(t, r.Refused, "no connection refused")
	for _, f := range r.Failed {
		assert.Regexp(t, dropped, f, "only connections the killed worker had accepted may fail")
	}
	assert.True(t, r.Reloaded)
	assert.NotZero(t, r.Replaced)
	perLang := map[string]int{}
	for pid, lang := range r.LangOf {
		if r.ByPid[pid] > 0 {
			perLang[lang]++
		}
	}
	for _, lang := range langs {
		assert.GreaterOrEqual(t, perLang[lang], 2, "%s answered from several workers", lang)
	}
	assert.Contains(t, out.String(), fmt.Sprintf("%d failed (connections the killed worker had accepted), 0 refused", len(r.Failed)))

	// The socket is shared by workers in three languages: none switched it to blocking
	// mode, which would stall the others' event loops (Node's accept loop reads until
	// EAGAIN). The flags of a worker's descriptor 3 are the socket's.
	var node int
	for pid, lang := range c.pids() {
		if lang == "node" {
			node = pid
		}
	}
	info, err := os.ReadFile("/proc/" + strconv.Itoa(node) + "/fdinfo/3")
	require.NoError(t, err)
	var flags string
	for _, line := range strings.Split(string(info), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags = strings.TrimSpace(v)
		}
	}
	f, err := strconv.ParseInt(flags, 8, 64)
	require.NoError(t, err, "fdinfo: %s", info)
	assert.NotZero(t, f&syscall.O_NONBLOCK, "the shared socket is still non-blocking")

	final := c.pids()
	c.close()
	for pid := range final {
		assert.Error(t, syscall.Kill(pid, 0), "worker %d stopped", pid)
	}
	for pid := range started {
		assert.Error(t, syscall.Kill(pid, 0), "worker %d stopped", pid)
	}
}
