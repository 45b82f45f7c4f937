package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// droppedOrRefused adds what a client sees once the sockets closed at the end of a drain.
const droppedOrRefused = dropped + "|refused"

// These tests run polyfork cluster with real workers: the example's workers in Python,
// PHP and Node (examples/cluster-http), an unmodified Node server, and uvicorn from PyPI.

var root = filepath.Join("..", "..")

// httpWorker returns the example's worker command for lang, and the -channel it runs with.
func httpWorker(t *testing.T, lang string) (channel string, argv []string) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join(root, "examples", "cluster-http"))
	require.NoError(t, err)
	src, _ := filepath.Abs(filepath.Join(root, "clients", "python", "src"))
	t.Setenv("PYTHONPATH", src)
	switch lang {
	case "python":
		return "fd", []string{testutil.Python(), filepath.Join(dir, "worker.py")}
	case "php":
		return "fd", []string{testutil.Interpreter("POLYFORK_PHP", "php"), filepath.Join(dir, "worker.php")}
	case "node":
		return "none", []string{testutil.Interpreter("POLYFORK_NODE", "node"), filepath.Join(dir, "worker.js")}
	}
	t.Fatalf("no worker in %s", lang)
	return "", nil
}

var clusterListenRE = regexp.MustCompile(`msg=listening address=tcp:(\S+) `)
var adminRE = regexp.MustCompile(`msg="admin listening" url=(http://\S+) `)

// runningCluster is polyfork cluster run in-process.
type runningCluster struct {
	addr  string // host:port of the shared socket
	admin string // base URL of the admin server, if asked for
	logs  *logWriter
	stop  func() int // SIGTERM's drain (cancelling run's context), then the exit status
}

// startCluster runs polyfork cluster in-process on 127.0.0.1:0 with flags, and stops it
// when the test ends.
func startCluster(t *testing.T, flags []string, command ...string) *runningCluster {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &logWriter{addr: make(chan string, 1), addrRE: clusterListenRE}
	args := append([]string{"cluster", "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0"}, flags...)
	args = append(append(args, "--"), command...)
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, strings.NewReader(""), io.Discard, logs) }()
	c := &runningCluster{logs: logs}
	select {
	case c.addr = <-logs.addr:
	case code := <-done:
		cancel()
		t.Fatalf("polyfork cluster exited with %d: %s", code, logs.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("polyfork cluster never listened: %s", logs.String())
	}
	testutil.Eventually(t, "the admin server", func() bool { return adminRE.MatchString(logs.String()) })
	c.admin = adminRE.FindStringSubmatch(logs.String())[1]
	stopped, code := false, -1
	c.stop = func() int {
		if !stopped {
			stopped = true
			cancel()
			code = <-done
		}
		return code
	}
	t.Cleanup(func() { c.stop() })
	return c
}

// workerPids asks the admin server for the pids of the workers.
func (c *runningCluster) workerPids(t *testing.T) []int {
	t.Helper()
	resp, err := http.Get(c.admin + "/workers")
	require.NoError(t, err)
	defer resp.Body.Close()
	var st struct {
		Workers []struct {
			Pid int `json:"pid"`
		} `json:"workers"`
		Listeners []struct {
			Address string `json:"address"`
			Queued  int    `json:"queued"`
		} `json:"listeners"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	var pids []int
	for _, w := range st.Workers {
		pids = append(pids, w.Pid)
	}
	return pids
}

// freshClient opens a new connection per request, so that each request is a new accept.
var freshClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

var answerRE = regexp.MustCompile(`^hello from (\w+) worker (\d+)\n$`)

// hit makes one request and returns the language and pid that answered.
func hit(addr string) (lang string, pid int, err error) {
	resp, err := freshClient.Get("http://" + addr + "/")
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", 0, err
	}
	m := answerRE.FindStringSubmatch(string(body))
	if resp.StatusCode != http.StatusOK || m == nil {
		return "", 0, fmt.Errorf("status %d, body %q", resp.StatusCode, body)
	}
	pid, _ = strconv.Atoi(m[2])
	return m[1], pid, nil
}

// warmUp makes requests until every worker has answered one: a worker without a channel
// counts as ready once started, before its server listens (connections wait in the
// queue meanwhile, for the workers that are up).
func warmUp(t *testing.T, c *runningCluster) {
	t.Helper()
	seen := map[int]bool{}
	testutil.Eventually(t, "every worker answering", func() bool {
		_, pid, err := hit(c.addr)
		require.NoError(t, err)
		seen[pid] = true
		for _, p := range c.workerPids(t) {
			if !seen[p] {
				return false
			}
		}
		return true
	})
}

// requests makes n requests and counts them by pid, checking the language.
func requests(t *testing.T, addr, lang string, n int) map[int]int {
	t.Helper()
	counts := map[int]int{}
	for i := 0; i < n; i++ {
		got, pid, err := hit(addr)
		require.NoError(t, err, "request %d", i)
		require.Equal(t, lang, got)
		counts[pid]++
	}
	return counts
}

// startLoad requests addr from several goroutines until End, counting answers by pid.
func startLoad(addr string, goroutines int) *testutil.Load {
	return testutil.StartLoad(goroutines, func() (int, error) {
		_, pid, err := hit(addr)
		return pid, err
	})
}

func needCommand(t *testing.T, name string) {
	t.Helper()
	_, err := exec.LookPath(name)
	require.NoError(t, err, "%s is needed: run scripts/setup.sh", name)
}

var languages = []string{"python", "php", "node"}

func TestClusterServesFromSeveralWorkers(t *testing.T) {
	for _, lang := range languages {
		t.Run(lang, func(t *testing.T) {
			channel, argv := httpWorker(t, lang)
			needCommand(t, argv[0])
			c := startCluster(t, []string{"-workers", "2", "-channel", channel}, argv...)
			warmUp(t, c)
			counts := requests(t, c.addr, lang, 200)
			assert.GreaterOrEqual(t, len(counts), 2, "200 requests over one port answered by several pids: %v", counts)
			pids := c.workerPids(t)
			for pid := range counts {
				assert.Contains(t, pids, pid, "answered by a worker of the cluster")
			}
			require.Equal(t, exitOK, c.stop(), c.logs.String())
			for _, pid := range pids {
				assert.False(t, alive(pid), "worker %d stopped", pid)
			}
			assert.Contains(t, c.logs.String(), "msg=drained")
		})
	}
}

func TestClusterKill9UnderLoad(t *testing.T) {
	for _, lang := range languages {
		t.Run(lang, func(t *testing.T) {
			channel, argv := httpWorker(t, lang)
			needCommand(t, argv[0])
			c := startCluster(t, []string{"-workers", "2", "-channel", channel}, argv...)
			l := startLoad(c.addr, 4)
			testutil.Eventually(t, "requests served", func() bool { return l.Total() > 50 })
			victim := c.workerPids(t)[0]
			require.NoError(t, syscall.Kill(victim, syscall.SIGKILL))
			var replacement int
			testutil.Eventually(t, "a new worker serving", func() bool {
				if pid := c.workerPids(t)[0]; pid != victim && pid != 0 {
					replacement = pid
				}
				return replacement != 0 && l.Served(replacement) > 0
			})
			l.End()
			assert.Zero(t, l.Refused, "no connection refused while the worker was killed and replaced")
			for _, f := range l.Failed { // only connections the killed worker had accepted
				assert.Regexp(t, dropped, f)
			}
			t.Logf("%s: %d answered, %d failed (accepted by the killed worker), by pid %v", lang, l.Total(), len(l.Failed), l.ByPid)
			logs := c.logs.String()
			assert.Regexp(t, `worker exited; restarting.* pid=`+strconv.Itoa(victim)+` .*killed by signal 9`, logs)
			assert.Regexp(t, `worker started.* worker=0 pid=`+strconv.Itoa(replacement), logs)
			require.Equal(t, exitOK, c.stop())
		})
	}
}

func TestClusterSIGHUPReloadsWithoutFailure(t *testing.T) {
	for _, lang := range languages {
		t.Run(lang, func(t *testing.T) {
			channel, argv := httpWorker(t, lang)
			needCommand(t, argv[0])
			c := startCluster(t, []string{"-workers", "2", "-channel", channel}, argv...)
			reloadUnderLoad(t, c)
			require.Equal(t, exitOK, c.stop())
		})
	}
}

// reloadUnderLoad sends SIGHUP while requests keep coming and checks that every worker was
// replaced, that nothing was refused, and that no request failed.
func reloadUnderLoad(t *testing.T, c *runningCluster) {
	t.Helper()
	l := reloadUnderLoadFailing(t, c)
	assert.Empty(t, l.Failed, "a reload fails no request")
}

// reloadUnderLoadFailing is reloadUnderLoad for workers that may drop a connection they
// accepted when they stop: it returns the load's results, checking only that nothing was
// refused and that what failed was a dropped connection.
func reloadUnderLoadFailing(t *testing.T, c *runningCluster) *testutil.Load {
	t.Helper()
	old := c.workerPids(t)
	l := startLoad(c.addr, 4)
	testutil.Eventually(t, "requests served", func() bool { return l.Total() > 50 })
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP)) // the cluster runs in this process
	testutil.Eventually(t, "the reload done", func() bool { return strings.Contains(c.logs.String(), "msg=reloaded") })
	fresh := c.workerPids(t)
	testutil.Eventually(t, "the new workers serving", func() bool {
		for _, pid := range fresh {
			if l.Served(pid) == 0 {
				return false
			}
		}
		return true
	})
	l.End()
	for _, pid := range fresh {
		assert.NotContains(t, old, pid, "every worker was replaced")
	}
	for _, pid := range old {
		assert.False(t, alive(pid), "old worker %d stopped", pid)
	}
	assert.Zero(t, l.Refused, "a reload refuses nothing")
	for _, f := range l.Failed {
		assert.Regexp(t, dropped, f)
	}
	t.Logf("%d answered during the reload, %d failed, by pid %v (old %v, new %v)", l.Total(), len(l.Failed), l.ByPid, old, fresh)
	return l
}

func TestClusterUnmodifiedNodeServer(t *testing.T) {
	node := testutil.Interpreter("POLYFORK_NODE", "node")
	needCommand(t, node)
	server, _ := filepath.Abs(filepath.Join("testdata", "plain_server.js"))
	c := startCluster(t, []string{"-workers", "2"}, node, server)
	warmUp(t, c)
	counts := requests(t, c.addr, "node", 200)
	assert.GreaterOrEqual(t, len(counts), 2, "%v", counts)
	require.Equal(t, exitOK, c.stop(), "it dies of SIGTERM, which is how it stops")
}

// uvicornVenv installs uvicorn from PyPI into a virtual environment kept in the user's
// cache directory (so later runs skip the download) and returns its python.
func uvicornVenv(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	require.NoError(t, err)
	venv := filepath.Join(cache, "polyfork-tests", "venv-uvicorn")
	python := filepath.Join(venv, "bin", "python")
	if exec.Command(python, "-c", "import uvicorn").Run() == nil {
		return python
	}
	out, err := exec.Command(testutil.Python(), "-m", "venv", "--clear", venv).CombinedOutput()
	require.NoError(t, err, "creating %s: %s", venv, out)
	out, err = exec.Command(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "uvicorn>=0.30").CombinedOutput()
	require.NoError(t, err, "pip install uvicorn (this test needs PyPI): %s", out)
	return python
}

func TestClusterUvicornFromPyPI(t *testing.T) {
	python := uvicornVenv(t)
	app, _ := filepath.Abs("testdata")
	c := startCluster(t, []string{"-workers", "2"},
		python, "-m", "uvicorn", "--fd", "3", "--app-dir", app, "--no-access-log", "asgi_app:app")
	warmUp(t, c)
	counts := requests(t, c.addr, "uvicorn", 200)
	assert.GreaterOrEqual(t, len(counts), 2, "%v", counts)
	// uvicorn stops on SIGTERM, but closes a connection it accepted and has not yet read a
	// request from (its h11 protocol's shutdown), so a reload may fail a few requests;
	// nothing is refused.
	reloadUnderLoadFailing(t, c)
	require.Equal(t, exitOK, c.stop())
}

func TestClusterBadInput(t *testing.T) {
	t.Run("usage", func(t *testing.T) {
		for args, want := range map[string]string{
			"cluster -- node x.js":                                            "at least one -listen ADDR is needed",
			"cluster -listen :0":                                              `want "-- COMMAND [ARG...]"`,
			"cluster -listen nonsense -- node x.js":                           `WithListeners: "nonsense": not an address; want tcp:HOST:PORT`,
			"cluster -listen :0 -channel tcp -- node x.js":                    `-channel must be none, fd or stdio, got "tcp"`,
			"cluster -listen :0 -listen-mode x -- node x.js":                  `-listen-mode must be shared or reuseport, got "x"`,
			"cluster -listen :0 -env novalue -- node x.js":                    `-env "novalue": want KEY=VALUE`,
			"cluster -listen unix:/tmp/x -listen-mode reuseport -- node x.js": "ListenReusePort binds one socket per worker, so it needs TCP addresses",
			// polyfork's own mistakes in -listen, not something in the way: usage errors.
			"cluster -listen 127.0.0.1:3921 -listen 127.0.0.1:3921 -- node x.js":      "WithListeners: tcp:127.0.0.1:3921 is given twice",
			"cluster -listen 127.0.0.1:99999 -- node x.js":                            `WithListeners: "127.0.0.1:99999": port 99999 is out of range (0 to 65535)`,
			"cluster -listen unix:/tmp/" + strings.Repeat("s", 110) + " -- node x.js": "the socket path is too long: 115 bytes, and a Unix socket address holds at most 107",
		} {
			r := polyfork(t, "", strings.Fields(args)...)
			assert.Equal(t, exitUsage, r.code, args)
			assert.Contains(t, r.stderr, want, args)
		}
	})
	t.Run("a port already in use", func(t *testing.T) {
		taken, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer taken.Close()
		r := polyfork(t, "", "cluster", "-listen", taken.Addr().String(), "--", "sleep", "100")
		assert.Equal(t, exitFailure, r.code)
		assert.Contains(t, r.stderr, "bridge: cannot listen on tcp:"+taken.Addr().String()+": bind: address already in use (another process listens there)")
		assert.NotContains(t, r.stderr, "worker started")
	})
	t.Run("a file that is not a socket at the unix path", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "some.py")
		require.NoError(t, os.WriteFile(path, []byte("print('keep me')\n"), 0o600))
		r := polyfork(t, "", "cluster", "-listen", "unix:"+path, "--", "sleep", "100")
		assert.Equal(t, exitFailure, r.code)
		assert.Contains(t, r.stderr, "cannot listen on unix:"+path+": bind: "+path+" is a regular file, not a socket: it is in the way of the socket, and is left alone")
		assert.NotContains(t, r.stderr, "another process")
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, "print('keep me')\n", string(b), "never deleted")
	})
	t.Run("a plain server run as if it spoke the protocol", func(t *testing.T) {
		node := testutil.Interpreter("POLYFORK_NODE", "node")
		needCommand(t, node)
		server, _ := filepath.Abs(filepath.Join("testdata", "plain_server.js"))
		r := polyfork(t, "", "cluster", "-listen", "127.0.0.1:0", "-workers", "1", "-channel", "fd", "-start-timeout", "1s", "--", node, server)
		assert.Equal(t, exitFailure, r.code)
		assert.Contains(t, r.stderr, "sent no $ready within 1s")
		assert.Contains(t, r.stderr, "a server that does not speak the polyfork protocol needs -channel none")
	})
	t.Run("a worker that never accepts", func(t *testing.T) {
		// Connections are not refused: the kernel queues them (the admin server shows how
		// many) until the client gives up. Nothing hangs: the drain stops the worker.
		c := startCluster(t, []string{"-workers", "1"}, "sleep", "1000")
		conn, err := net.Dial("tcp", c.addr)
		require.NoError(t, err)
		defer conn.Close()
		testutil.Eventually(t, "the connection in the queue", func() bool {
			resp, err := http.Get(c.admin + "/metrics")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return strings.Contains(string(b), "polyfork_listen_queue_length{socket=") &&
				regexp.MustCompile(`polyfork_listen_queue_length\{socket="[^"]+"\} 1\n`).Match(b)
		})
		pid := c.workerPids(t)[0]
		require.Equal(t, exitOK, c.stop())
		assert.False(t, alive(pid))
	})
	t.Run("a worker that closes the inherited socket", func(t *testing.T) {
		// The socket is the host's: the port stays open; a lone worker that closed it
		// leaves connections queued, as above.
		c := startCluster(t, []string{"-workers", "1"}, "sh", "-c", "exec 3<&-; exec sleep 1000")
		conn, err := net.Dial("tcp", c.addr)
		require.NoError(t, err)
		conn.Close()
		require.Equal(t, exitOK, c.stop())
	})
	t.Run("LISTEN variables in the host's environment", func(t *testing.T) {
		// Not ours (another pid): the workers never see them, they get the cluster's own.
		t.Setenv("LISTEN_FDS", "4")
		t.Setenv("LISTEN_PID", "1")
		t.Setenv("LISTEN_FDNAMES", "a:b:c:d")
		node := testutil.Interpreter("POLYFORK_NODE", "node")
		needCommand(t, node)
		server, _ := filepath.Abs(filepath.Join("testdata", "plain_server.js"))
		c := startCluster(t, []string{"-workers", "1"}, node, server)
		requests(t, c.addr, "node", 5)
		require.Equal(t, exitOK, c.stop())
		// And -listen systemd refuses them.
		r := polyfork(t, "", "cluster", "-listen", "systemd", "--", "sleep", "100")
		assert.Equal(t, exitFailure, r.code)
		assert.Contains(t, r.stderr, "cannot listen on systemd: LISTEN_PID=1 is not this process")
	})
}

// TestClusterIsolationFlags: the cluster's workers get the environment and limits every
// command that starts children offers.
func TestClusterIsolationFlags(t *testing.T) {
	t.Setenv("POLYFORK_TEST_SECRET", "host-only")
	out := filepath.Join(t.TempDir(), "env")
	c := startCluster(t, []string{"-workers", "1", "-clean-env", "-allow-env", "PATH", "-env", "GREETING=hi", "-rlimit-nofile", "64"},
		"sh", "-c", `echo "$GREETING/${POLYFORK_TEST_SECRET:-unset}/$(ulimit -n)" > `+out+`; exec sleep 1000`)
	testutil.Eventually(t, "the worker to write its environment", func() bool {
		b, err := os.ReadFile(out)
		return err == nil && strings.HasSuffix(string(b), "\n")
	})
	b, _ := os.ReadFile(out)
	assert.Equal(t, "hi/unset/64\n", string(b))
	require.Equal(t, exitOK, c.stop())
}

// TestClusterSignals runs the built command and sends it real signals: SIGTERM drains
// while requests keep coming, and nothing is left running.
func TestClusterSignals(t *testing.T) {
	bin := buildPolyfork(t)
	channel, argv := httpWorker(t, "python")
	needCommand(t, argv[0])
	var logs testutil.Buffer
	cmd := exec.Command(bin, append([]string{"cluster", "-listen", "127.0.0.1:0", "-workers", "2", "-channel", channel, "--"}, argv...)...)
	cmd.Stderr = &logs
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()
	var addr string
	testutil.Eventually(t, "listening", func() bool {
		m := clusterListenRE.FindStringSubmatch(logs.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	pids := map[int]bool{}
	for pid := range requests(t, addr, "python", 20) {
		pids[pid] = true
	}

	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	testutil.Eventually(t, "reloaded", func() bool { return strings.Contains(logs.String(), "msg=reloaded") })

	l := startLoad(addr, 4)
	testutil.Eventually(t, "requests served", func() bool { return l.Total() > 20 })
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	err := cmd.Wait()
	l.End()
	require.NoError(t, err, "exit status 0 after the drain: %s", logs.String())
	assert.Contains(t, logs.String(), "msg=drained")
	for _, m := range regexp.MustCompile(`worker started.* pid=(\d+)`).FindAllStringSubmatch(logs.String(), -1) {
		pid, _ := strconv.Atoi(m[1])
		assert.False(t, alive(pid), "worker %d left running", pid)
	}
	// Once the drain begins, new connections may be refused; answered requests were whole.
	for _, f := range l.Failed {
		assert.Regexp(t, droppedOrRefused, f)
	}
	t.Logf("%d answered, %d refused after the drain began, %d failed", l.Total(), l.Refused, len(l.Failed))
}

// TestClusterUnderSystemd runs polyfork as systemd would start it from a .socket unit:
// the socket as descriptor 3, LISTEN_FDS, LISTEN_PID (polyfork's own pid) and
// LISTEN_FDNAMES; -listen systemd adopts it.
func TestClusterUnderSystemd(t *testing.T) {
	bin := buildPolyfork(t)
	node := testutil.Interpreter("POLYFORK_NODE", "node")
	needCommand(t, node)
	server, _ := filepath.Abs(filepath.Join("testdata", "plain_server.js"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f, err := ln.(*net.TCPListener).File()
	require.NoError(t, err)
	ln.Close()
	defer f.Close()
	var logs testutil.Buffer
	cmd := exec.Command("sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=web exec "$@"`, "sh",
		bin, "cluster", "-listen", "systemd:web", "-workers", "2", "--", node, server)
	cmd.ExtraFiles = []*os.File{f} // descriptor 3
	cmd.Stderr = &logs
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()
	testutil.Eventually(t, "listening", func() bool { return clusterListenRE.MatchString(logs.String()) })
	out := logs.String()
	assert.Contains(t, out, "socket=web", "the name systemd gave")
	hostport := clusterListenRE.FindStringSubmatch(out)[1]
	counts := requests(t, hostport, "node", 50)
	assert.GreaterOrEqual(t, len(counts), 1)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait())
}

// TestClusterWorkerShutsTheSocketDown: a worker that calls shutdown(SHUT_RDWR) on the
// inherited socket when SIGTERM stops it un-listens the socket for every worker (and the
// kernel frees a port it picked). polyfork has it listen again, on the same port, as it
// stops that worker, and says so in the log, naming the worker: after a SIGHUP reload the new
// workers serve, /healthz is 200 and polyfork_listen_up 1. Nothing accepted after the
// reload before: connections were refused until polyfork was restarted.
func TestClusterWorkerShutsTheSocketDown(t *testing.T) {
	bin := buildPolyfork(t)
	python := testutil.Python()
	needCommand(t, python)
	worker, _ := filepath.Abs(filepath.Join("testdata", "shutdown_worker.py"))
	var logs testutil.Buffer
	cmd := exec.Command(bin, "cluster", "-listen", "127.0.0.1:0", "-workers", "2", "-admin", "127.0.0.1:0", "-stop-grace", "2s", "--", python, worker)
	cmd.Stderr = &logs
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()
	var addr, admin string
	testutil.Eventually(t, "listening", func() bool {
		out := logs.String()
		m, a := clusterListenRE.FindStringSubmatch(out), adminRE.FindStringSubmatch(out)
		if m != nil && a != nil {
			addr, admin = m[1], a[1]
		}
		return m != nil && a != nil
	})
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	requests(t, addr, "python", 5)
	listenUp := func(v int) string {
		return `polyfork_listen_up\{address="tcp:` + regexp.QuoteMeta(addr) + `",socket="[^"]+"\} ` + strconv.Itoa(v) + `\n`
	}
	_, metrics := getURL(t, admin+"/metrics")
	assert.Regexp(t, listenUp(1), metrics)

	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	testutil.Eventually(t, "reloaded", func() bool { return strings.Contains(logs.String(), "msg=reloaded") })
	revived := regexp.MustCompile(`level=WARN msg="polyfork: listening socket had stopped listening; it listens again[^\n]*address=tcp:` + regexp.QuoteMeta(addr) + `[^\n]*worker \d \(pid \d+, (exited|stopping)\)`)
	testutil.Eventually(t, "the warning logged", func() bool { return revived.MatchString(logs.String()) })
	testutil.Eventually(t, "/healthz 200", func() bool {
		code, _ := getURL(t, admin+"/healthz")
		return code == http.StatusOK
	})
	requests(t, addr, "python", 5) // the new workers, on the same port
	_, metrics = getURL(t, admin+"/metrics")
	assert.Regexp(t, listenUp(1), metrics)
	assert.NotContains(t, logs.String(), "no longer listens")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait())
}

// versionWorker is a cluster worker that reads its code's version from DIR/version when
// it starts, logs it, waits while DIR/hold exists (a slow start), then serves.
const versionWorker = `import os, sys, time, polyfork
d = sys.argv[1]
version = open(os.path.join(d, "version")).read()
sys.stderr.write("worker %d runs %s\n" % (os.getpid(), version))
sys.stderr.flush()
while os.path.exists(os.path.join(d, "hold")):
    time.sleep(0.02)
polyfork.run()
`

// TestClusterSIGHUPDuringAReloadReloadsAgain: a deploy sends SIGHUP while the reload of
// the deploy before is still under way. The workers that reload had already started ran
// the older code; the second SIGHUP was logged and dropped, so they kept running it until
// the next deploy. Now it asks for one more reload, which replaces them (docs/faults.md).
func TestClusterSIGHUPDuringAReloadReloadsAgain(t *testing.T) {
	_, argv := httpWorker(t, "python") // for PYTHONPATH
	dir := t.TempDir()
	write := func(name, content string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	write("version", "v1")
	var logs testutil.Buffer
	cmd := exec.Command(buildPolyfork(t), "cluster", "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-workers", "2",
		"-channel", "fd", "-start-timeout", "2m", "--", argv[0], "-c", versionWorker, dir)
	cmd.Stderr = &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	testutil.Eventually(t, "the admin server", func() bool { return adminRE.MatchString(logs.String()) })
	c := &runningCluster{admin: adminRE.FindStringSubmatch(logs.String())[1]}
	versions := func() map[int]string {
		out := map[int]string{}
		for _, m := range regexp.MustCompile(`worker (\d+) runs (v\d)`).FindAllStringSubmatch(logs.String(), -1) {
			pid, _ := strconv.Atoi(m[1])
			out[pid] = m[2]
		}
		return out
	}
	running := func() []string {
		var out []string
		v := versions()
		for _, pid := range c.workerPids(t) {
			out = append(out, v[pid])
		}
		return out
	}
	testutil.Eventually(t, "two v1 workers", func() bool { return fmt.Sprint(running()) == "[v1 v1]" })

	// Deploy v2: the reload's first new worker starts slowly (hold).
	write("version", "v2")
	write("hold", "")
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	testutil.Eventually(t, "a v2 worker starting", func() bool {
		n := 0
		for _, v := range versions() {
			if v == "v2" {
				n++
			}
		}
		return n == 1
	})
	// Deploy v3 while that reload waits for its first worker.
	write("version", "v3")
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	testutil.Eventually(t, "the second SIGHUP logged", func() bool { return strings.Count(logs.String(), "SIGHUP") >= 2 })
	require.NotContains(t, logs.String(), "msg=reloaded", "the first reload is still waiting for its held worker")
	require.NoError(t, os.Remove(filepath.Join(dir, "hold")))

	testutil.Eventually(t, "every worker running v3", func() bool { return fmt.Sprint(running()) == "[v3 v3]" })
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), logs.String())
}

// TestClusterReloadOfABrokenDeployKeepsTheOldWorkers: a plain server (-channel none) is
// ready once started, so a SIGHUP after a broken deploy (a command that exits at once)
// retired every working worker within a moment: nothing answered, every slot
// crash-looped. A replacement without a channel must now stay up a second before the
// worker it replaces is retired; one that exits fails the reload, and the old workers
// serve on (docs/faults.md).
func TestClusterReloadOfABrokenDeployKeepsTheOldWorkers(t *testing.T) {
	_, argv := httpWorker(t, "python")
	broken := filepath.Join(t.TempDir(), "broken")
	script := `test -e "$1" && { echo broken deploy >&2; exit 1; }; shift; exec "$@"`
	var logs testutil.Buffer
	cmd := exec.Command(buildPolyfork(t), append([]string{"cluster", "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-workers", "2",
		"--", "sh", "-c", script, "sh", broken}, argv...)...)
	cmd.Stderr = &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	testutil.Eventually(t, "the admin server", func() bool { return adminRE.MatchString(logs.String()) })
	c := &runningCluster{addr: clusterListenRE.FindStringSubmatch(logs.String())[1], admin: adminRE.FindStringSubmatch(logs.String())[1]}
	warmUp(t, c)
	before := c.workerPids(t)

	require.NoError(t, os.WriteFile(broken, nil, 0o600))
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	testutil.Eventually(t, "the reload to fail", func() bool { return strings.Contains(logs.String(), "reload failed") })
	assert.Contains(t, logs.String(), "exited within 1s of its start, so the old one was kept")
	assert.Equal(t, before, c.workerPids(t), "the old workers serve on")
	requests(t, c.addr, "python", 20)

	require.NoError(t, os.Remove(broken)) // the deploy fixed: the next reload goes through
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	testutil.Eventually(t, "the reload", func() bool { return strings.Contains(logs.String(), "msg=reloaded") })
	requests(t, c.addr, "python", 20)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), logs.String())
}

// TestClusterSecondSignalStopsTheDrain: a worker that ignores SIGTERM holds the drain up to
// -drain; a second SIGTERM (a second Ctrl-C) kills it and ends the cluster now, exit 3. The
// second signal was lost, and the cluster waited the whole minute.
func TestClusterSecondSignalStopsTheDrain(t *testing.T) {
	bin := buildPolyfork(t)
	var logs testutil.Buffer
	cmd := exec.Command(bin, "cluster", "-listen", "127.0.0.1:0", "-workers", "1", "-drain", "60s", "-stop-grace", "60s",
		"--", "sh", "-c", `trap "" TERM; echo up >&2; while :; do sleep 1; done`)
	cmd.Stderr = &logs
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// "] up" is the worker's own line (sh#0[PID] up): the listening line quotes the command,
	// "echo up" included, before the trap is set.
	testutil.Eventually(t, "the worker up", func() bool { return strings.Contains(logs.String(), "] up\n") })
	m := regexp.MustCompile(`worker started.* pid=(\d+)`).FindStringSubmatch(logs.String())
	require.NotNil(t, m, logs.String())
	pid, _ := strconv.Atoi(m[1])

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	testutil.Eventually(t, "the drain began", func() bool { return strings.Contains(logs.String(), "msg=\"draining") })
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-done:
	case <-time.After(30 * time.Second): // a safety bound: the drain would take 60 s
		t.Fatalf("the cluster still drains after a second SIGTERM:\n%s", logs.String())
	}
	assert.Equal(t, exitFailure, cmd.ProcessState.ExitCode(), logs.String())
	assert.Contains(t, logs.String(), "a second signal during the drain: stopping now")
	assert.False(t, alive(pid), "the worker was killed")
}
