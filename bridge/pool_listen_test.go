package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
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

// These tests run clusters: pools of this test binary playing HTTP servers on the
// sockets the pool passes (helperlisten_test.go).

// httpClient opens a new connection per request, so that each request is a new accept.
var httpClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

func fetchBody(url string) (string, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return string(b), err
}

func get(t *testing.T, url string) string {
	t.Helper()
	body, err := fetchBody(url)
	require.NoError(t, err)
	return body
}

func getUnix(t *testing.T, path, target string) string {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		}}, Timeout: 10 * time.Second}
	resp, err := c.Get("http://unix" + target)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// cluster starts a pool of n HTTP workers (a mode of helperlisten_test.go, with args) on
// a free port and returns it with the base URL. Only http_protocol speaks the protocol.
func cluster(t *testing.T, mode string, n int, opts ...Option) (*Pool, string) {
	t.Helper()
	return clusterOf(t, child(mode), n, opts...)
}

func clusterOf(t *testing.T, argv []string, n int, opts ...Option) (*Pool, string) {
	t.Helper()
	opts = append([]Option{WithWorkers(n), WithListeners("127.0.0.1:0")}, opts...)
	if argv[2] != "http_protocol" {
		opts = append(opts, WithChannel(ChannelNone))
	}
	p := newPool(t, argv, opts...)
	return p, "http://" + p.ListenSockets()[0].Addr.String()
}

func workerPids(p *Pool) map[int]bool {
	pids := map[int]bool{}
	for _, w := range p.Stats().Workers {
		if w.Pid != 0 {
			pids[w.Pid] = true
		}
	}
	return pids
}

// spread makes n requests and counts them by the pid that answered.
func spread(t *testing.T, url string, n int) map[int]int {
	t.Helper()
	counts := map[int]int{}
	for i := 0; i < n; i++ {
		pid, err := strconv.Atoi(strings.TrimSpace(get(t, url)))
		require.NoError(t, err)
		counts[pid]++
	}
	return counts
}

func TestClusterSpreadsOverWorkers(t *testing.T) {
	for _, mode := range []ListenMode{ListenShared, ListenReusePort} {
		t.Run(mode.String(), func(t *testing.T) {
			checkNoLeaks(t)
			p, url := cluster(t, "http", 2, WithListenMode(mode))
			counts := spread(t, url+"/", 200)
			assert.GreaterOrEqual(t, len(counts), 2, "200 requests over one port answered by several workers: %v", counts)
			pids := workerPids(p)
			for pid := range counts {
				assert.True(t, pids[pid], "pid %d is a worker of the pool %v", pid, pids)
			}
			socks := p.ListenSockets()
			require.Len(t, socks, 1)
			assert.Equal(t, map[ListenMode]int{ListenShared: 1, ListenReusePort: 2}[mode], socks[0].Sockets)
			assert.Equal(t, 0, socks[0].Queued)
			assert.Positive(t, socks[0].Backlog)
			require.NoError(t, p.Close())
		})
	}
}

func TestClusterWorkerEnvironment(t *testing.T) {
	checkNoLeaks(t)
	// The host's own LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES (from systemd, or
	// inherited) are never passed on; an application's own LISTEN_ variables are.
	t.Setenv("LISTEN_FDS", "7")
	t.Setenv("LISTEN_PID", "1")
	t.Setenv("LISTEN_FDNAMES", "stale")
	t.Setenv("LISTEN_PORT", "8080")
	p, url := cluster(t, "http", 1)
	pid := strconv.Itoa(p.Stats().Workers[0].Pid)
	assert.Equal(t, pid, get(t, url+"/env?name=LISTEN_PID"), "LISTEN_PID is the worker's own pid")
	assert.Equal(t, "8080", get(t, url+"/env?name=LISTEN_PORT"), "the application's own variable")
	assert.Equal(t, "1", get(t, url+"/env?name=LISTEN_FDS"))
	assert.Equal(t, socketName(p.ListenSockets()[0].Addr), get(t, url+"/env?name=LISTEN_FDNAMES"))
	assert.Equal(t, "(unset)", get(t, url+"/env?name=POLYFORK_PROTOCOL"), "ChannelNone: no protocol variables")
	assert.Equal(t, "true", get(t, url+"/nonblock"), "the socket is passed non-blocking")
	var kinds []string
	require.NoError(t, json.Unmarshal([]byte(get(t, url+"/fds")), &kinds))
	assert.Equal(t, []string{"socket"}, kinds, "descriptor 3 is the socket, and nothing else is passed")

	err := p.Call(context.Background(), "pid", nil, nil)
	assert.ErrorIs(t, err, ErrNoChannel)
	assert.ErrorIs(t, p.Send(context.Background(), 1), ErrNoChannel)
	assert.ErrorIs(t, p.Broadcast(context.Background(), 1), ErrNoChannel)
	require.NoError(t, p.Close())

	// Without listeners a worker gets no socket-activation variables at all, and the
	// application's own LISTEN_PORT (it was dropped with them).
	q := newPool(t, child("serve"), WithWorkers(1))
	var v string
	require.NoError(t, q.Call(context.Background(), "env", []any{"LISTEN_FDS"}, &v))
	assert.Empty(t, v)
	require.NoError(t, q.Call(context.Background(), "env", []any{"LISTEN_PORT"}, &v))
	assert.Equal(t, "8080", v)
	require.NoError(t, q.Close())
}

func TestClusterSocketsBeforeChannelDescriptors(t *testing.T) {
	checkNoLeaks(t)
	p := newPool(t, child("http_protocol"), WithWorkers(1), WithChannel(ChannelFDs),
		WithListeners("web=127.0.0.1:0", "api=127.0.0.1:0"))
	ctx := context.Background()
	env := func(name string) string {
		var v string
		require.NoError(t, p.Call(ctx, "env", []any{name}, &v))
		return v
	}
	assert.Equal(t, "2", env("LISTEN_FDS"))
	assert.Equal(t, "web:api", env("LISTEN_FDNAMES"))
	assert.Equal(t, strconv.Itoa(p.Stats().Workers[0].Pid), env("LISTEN_PID"))
	assert.Equal(t, "5,6", env("POLYFORK_CHANNEL_FDS"), "SPEC 1.2: the channel after the sockets")
	var kinds []string
	require.NoError(t, p.Call(ctx, "fds", nil, &kinds))
	assert.Equal(t, []string{"socket", "socket", "pipe", "pipe"}, kinds, "3 and 4 the sockets, 5 and 6 the channel, nothing else")
	socks := p.ListenSockets()
	require.Len(t, socks, 2)
	for _, s := range socks {
		assert.Equal(t, strconv.Itoa(p.Stats().Workers[0].Pid)+"\n", get(t, "http://"+s.Addr.String()+"/"))
	}
	require.NoError(t, p.Close())
}

// startLoad requests url from several goroutines until End; the answer is the pid.
func startLoad(url string, goroutines int) *testutil.Load {
	return testutil.StartLoad(goroutines, func() (int, error) {
		body, err := fetchBody(url)
		if err != nil {
			return 0, err
		}
		return strconv.Atoi(strings.TrimSpace(body))
	})
}

func TestClusterKill9RefusesNothing(t *testing.T) {
	for _, mode := range []ListenMode{ListenShared, ListenReusePort} {
		t.Run(mode.String(), func(t *testing.T) {
			checkNoLeaks(t)
			p, url := cluster(t, "http", 2, WithListenMode(mode))
			l := startLoad(url+"/", 4)
			eventually(t, "some requests served", func() bool { return l.Total() > 50 })
			victim := p.Stats().Workers[0].Pid
			require.NoError(t, syscall.Kill(victim, syscall.SIGKILL))
			var replacement int
			eventually(t, "a new worker in the victim's slot, serving", func() bool {
				w := p.Stats().Workers[0]
				if w.Pid != 0 && w.Pid != victim {
					replacement = w.Pid
				}
				return replacement != 0 && l.Served(replacement) > 0
			})
			before := l.Total()
			eventually(t, "more requests served", func() bool { return l.Total() > before+50 })
			l.End()
			assert.Zero(t, l.Refused, "no connection is refused while a worker is killed and replaced")
			// Connections the killed worker had accepted may fail; nothing else.
			for _, f := range l.Failed {
				assert.Regexp(t, dropped, f)
			}
			t.Logf("%s: %d requests, %d failed (accepted by the killed worker), pids %v", mode, l.Total(), len(l.Failed), l.ByPid)
			assert.Equal(t, 1, p.Stats().Workers[0].Restarts)
			require.NoError(t, p.Close())
		})
	}
}

func TestClusterReloadFailsNothing(t *testing.T) {
	for _, mode := range []string{"http", "http_protocol"} {
		t.Run(mode, func(t *testing.T) {
			checkNoLeaks(t)
			var logs syncBuffer
			p, url := cluster(t, mode, 2, WithStderr(&logs), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			defer func() {
				if t.Failed() {
					t.Log(logs.String())
				}
			}()
			old := workerPids(p)
			l := startLoad(url+"/slow?ms=5", 4)
			eventually(t, "some requests served", func() bool { return l.Total() > 20 })
			require.NoError(t, p.Reload(context.Background()))
			fresh := workerPids(p)
			eventually(t, "the new workers serving", func() bool {
				for pid := range fresh {
					if l.Served(pid) == 0 {
						return false
					}
				}
				return true
			})
			l.End()
			for pid := range fresh {
				assert.False(t, old[pid], "every worker was replaced")
			}
			assert.Zero(t, l.Refused)
			assert.Empty(t, l.Failed, "a reload fails no request")
			t.Logf("%s: %d requests, pids %v", mode, l.Total(), l.ByPid)
			require.NoError(t, p.Close())
		})
	}
}

func TestClusterCloseReleasesThePort(t *testing.T) {
	checkNoLeaks(t)
	p, url := cluster(t, "http", 2)
	pids := workerPids(p)
	get(t, url+"/")
	require.NoError(t, p.Close())
	for pid := range pids {
		assert.False(t, alive(pid), "worker %d stopped", pid)
	}
	_, err := fetchBody(url + "/")
	assert.ErrorIs(t, err, syscall.ECONNREFUSED, "once the pool is closed nothing listens")
	assert.Nil(t, p.ListenSockets())
}

func TestClusterWorkerThatNeverAccepts(t *testing.T) {
	checkNoLeaks(t)
	// One of two workers never accepts: the other takes every connection.
	flag := filepath.Join(t.TempDir(), "first")
	p, url := clusterOf(t, child("http_first_noaccept", flag), 2)
	counts := spread(t, url+"/", 50)
	assert.Len(t, counts, 1, "only the accepting worker answers: %v", counts)
	require.NoError(t, p.Close())

	// The only worker never accepts: connections are not refused; they wait in the
	// kernel's queue (Pool.ListenSockets shows it) until the client gives up.
	p, url = cluster(t, "http_noaccept", 1)
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	require.NoError(t, err, "the kernel accepts on the pool's behalf")
	defer c.Close()
	eventually(t, "the connection counted in the queue", func() bool { return p.ListenSockets()[0].Queued == 1 })
	require.NoError(t, p.Close())
}

func TestClusterWorkerThatClosesTheSocket(t *testing.T) {
	checkNoLeaks(t)
	// The socket belongs to the host: a worker closing its descriptor closes nothing for
	// the others, nor the port.
	p, url := cluster(t, "http_close", 1)
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	require.NoError(t, err)
	c.Close()
	require.NoError(t, p.Close())
}

func TestClusterSharedListenerAcrossPools(t *testing.T) {
	checkNoLeaks(t)
	// Two pools (in practice: two languages) behind one listener the caller bound.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	a := newPool(t, child("http"), WithChannel(ChannelNone), WithWorkers(1), WithListener("web", ln))
	b := newPool(t, child("http"), WithChannel(ChannelNone), WithWorkers(1), WithListener("web", ln))
	require.NoError(t, ln.Close(), "the caller may close its listener: the pools hold the socket")
	pids := map[int]bool{a.Stats().Workers[0].Pid: true, b.Stats().Workers[0].Pid: true}
	url := "http://" + ln.Addr().String()
	var n atomic.Int32
	eventually(t, "both pools answer", func() bool {
		pid, _ := strconv.Atoi(strings.TrimSpace(get(t, url+"/")))
		require.True(t, pids[pid])
		if pid == a.Stats().Workers[0].Pid {
			n.Add(1)
		} else {
			n.Add(1 << 16)
		}
		return n.Load()&0xffff > 0 && n.Load()>>16 > 0
	})
	require.NoError(t, a.Close())
	assert.Equal(t, strconv.Itoa(b.Stats().Workers[0].Pid)+"\n", get(t, url+"/"), "the port stays open while one pool has it")
	require.NoError(t, b.Close())
	_, err = fetchBody(url + "/")
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
}

// TestClusterWorkerThatShutsTheSocketDown: a worker that calls shutdown(2) on its
// inherited socket as it stops un-listens the socket for the host and every worker
// (unlike close). At that worker's exit the pool has the socket listen again, on the
// same port, and warns naming the worker; workers whose accept loops go on then serve
// again. Connections were refused for good: the pool could only report it.
func TestClusterWorkerThatShutsTheSocketDown(t *testing.T) {
	given := func(t *testing.T) string { // a port given, which the socket keeps through its shutdown
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		return ln.Addr().String()
	}
	for _, tc := range []struct {
		name   string
		listen func(t *testing.T) string
		mode   ListenMode
	}{
		{"a port the kernel picked", func(*testing.T) string { return "127.0.0.1:0" }, ListenShared},
		{"a given port", given, ListenShared},
		{"a socket per worker", func(*testing.T) string { return "127.0.0.1:0" }, ListenReusePort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkNoLeaks(t)
			var logs syncBuffer
			listen := tc.listen(t)
			p := newPool(t, child("http_shutdown"), WithWorkers(2), WithListeners(listen), WithListenMode(tc.mode), WithChannel(ChannelNone),
				WithStderr(&logs), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			url := "http://" + p.ListenSockets()[0].Addr.String()
			if !strings.HasSuffix(listen, ":0") {
				require.Equal(t, "http://"+listen, url)
			}
			require.Len(t, p.ListenSockets(), 1)
			defer func() {
				if t.Failed() {
					t.Log(logs.String())
				}
			}()
			get(t, url+"/")
			require.True(t, p.ListenSockets()[0].Listening)
			old := workerPids(p)

			require.NoError(t, p.Reload(context.Background()))
			eventually(t, "the warning logged", func() bool { return strings.Contains(logs.String(), "it listens again") })
			out := logs.String()
			assert.Contains(t, out, "level=WARN msg=\"polyfork: listening socket had stopped listening; it listens again")
			named := false
			for pid := range old {
				named = named || strings.Contains(out, fmt.Sprintf("(pid %d, ", pid))
			}
			assert.True(t, named, "the log names an old worker that shut it down: %s", out)
			assert.NotContains(t, out, "no longer listens")
			eventually(t, "the socket listening", func() bool { return p.ListenSockets()[0].Listening })
			assert.Equal(t, url, "http://"+p.ListenSockets()[0].Addr.String(), "the same port")
			for pid := range spread(t, url+"/", 20) {
				assert.False(t, old[pid], "answered by a new worker, on the socket that listens again")
			}
			require.NoError(t, p.Close())
		})
	}
}

// TestClusterWorkerThatShutsTheSocketDownThenDrains: a worker that shuts the socket down
// as it stops, then takes its time to exit (finishing its requests, as servers do), had
// every worker refuse new connections until it exited. The pool looks at its sockets while
// a worker stops, and the socket listens again while that worker still runs.
func TestClusterWorkerThatShutsTheSocketDownThenDrains(t *testing.T) {
	checkNoLeaks(t)
	var logs syncBuffer
	p := newPool(t, child("http_shutdown", "20s"), WithWorkers(1), WithListeners("127.0.0.1:0"), WithChannel(ChannelNone),
		WithGracePeriods(time.Minute, time.Second), WithStderr(&logs), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	url := "http://" + p.ListenSockets()[0].Addr.String()
	old, err := strconv.Atoi(strings.TrimSpace(get(t, url+"/")))
	require.NoError(t, err)

	reloaded := make(chan error, 1)
	go func() { reloaded <- p.Reload(context.Background()) }() // waits for the old worker's 20 s
	eventually(t, "the warning logged", func() bool { return strings.Contains(logs.String(), "it listens again") })
	assert.Contains(t, logs.String(), fmt.Sprintf("found_when=\"worker 0 (pid %d, stopping)\"", old))
	pid, err := strconv.Atoi(strings.TrimSpace(get(t, url+"/")))
	require.NoError(t, err)
	assert.NotEqual(t, old, pid, "the new worker serves")
	assert.True(t, alive(old), "while the old one still drains")
	p.Kill() // not 20 s more
	<-reloaded
}

// TestClusterWorkerThatShutsAUnixSocketDown: a Unix socket shut down keeps its LISTEN
// state and SO_ACCEPTCONN, but refuses every connection; on Linux the pool asks the
// kernel (sock_diag) and reports it as it does a TCP socket. It reported it listening.
func TestClusterWorkerThatShutsAUnixSocketDown(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("sock_diag is Linux's")
	}
	checkNoLeaks(t)
	var logs syncBuffer
	path := filepath.Join(t.TempDir(), "s")
	p := newPool(t, child("http_shutdown"), WithWorkers(2), WithListeners("unix:"+path), WithChannel(ChannelNone),
		WithStderr(&logs), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	getUnix(t, path, "/")
	require.True(t, p.ListenSockets()[0].Listening)

	require.NoError(t, p.Reload(context.Background()))
	eventually(t, "the socket reported down", func() bool { return !p.ListenSockets()[0].Listening })
	_, err := net.Dial("unix", path)
	require.ErrorIs(t, err, syscall.ECONNREFUSED, "what the fault does")
	eventually(t, "the error logged", func() bool { return strings.Contains(logs.String(), "no longer listens") })
	assert.Equal(t, 1, strings.Count(logs.String(), "no longer listens"), "logged once")
	assert.Contains(t, logs.String(), "a Unix socket that was shut down cannot listen again")
	require.NoError(t, p.Close())
}
