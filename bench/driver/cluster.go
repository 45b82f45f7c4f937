package driver

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/polyfork/polyfork/bench"
)

// httpCluster is an HTTP server of the cluster group under measurement: polyfork cluster
// with Node workers, Node's own cluster, or one Node process, all running the trivial
// handler of bench/peers/node_http.js. A round trip is one POST of the payload, echoed
// back; the load generator is this driver (httpclient.go), on a keep-alive connection per
// goroutine or a new connection per request (the system's conn= parameter).
//
// Besides the trial it counts how many answers each worker gave (X-Pid) in the
// throughput phases, prints the shares on stderr, and appends them as one JSON line to
// bench/out/cluster-shares.jsonl, since a trial has no place for them.
type httpCluster struct {
	sys       bench.System
	root      string
	cmd       *exec.Cmd
	addr      string
	keepAlive bool
	seq       *httpConn // the sequential round trips' connection

	mu     sync.Mutex
	shares map[string]int64
}

var (
	polyforkListenRE = regexp.MustCompile(`msg=listening address=tcp:(\S+) `)
	nodeListenRE     = regexp.MustCompile(`^listening (\d+)$`)
)

// startCluster starts the system's server and waits until every worker answers.
func startCluster(sys bench.System, root string) (*httpCluster, error) {
	node := bench.Interpreter("node", os.Getenv)
	peer := filepath.Join(root, "bench", "peers", "node_http.js")
	workers, _ := strconv.Atoi(sys.Params["workers"])
	workers = max(workers, 1)
	c := &httpCluster{sys: sys, root: root, keepAlive: sys.Params["conn"] != "close", shares: map[string]int64{}}
	var argv []string
	var listenRE *regexp.Regexp
	switch sys.Params["server"] {
	case "polyfork":
		bin, err := buildPolyfork(root)
		if err != nil {
			return nil, err
		}
		mode := sys.Params["mode"]
		if mode == "" {
			mode = "shared"
		}
		argv = []string{bin, "cluster", "-listen", "127.0.0.1:0", "-workers", strconv.Itoa(workers),
			"-listen-mode", mode, "-channel", "none", "--", node, peer, "fd"}
		listenRE = polyforkListenRE
	case "node-cluster":
		argv, listenRE = []string{node, peer, "cluster", strconv.Itoa(workers)}, nodeListenRE
	case "node-single":
		argv, listenRE = []string{node, peer, "single"}, nodeListenRE
	default:
		return nil, fmt.Errorf("cluster system %s: server=%q is not polyfork, node-cluster or node-single", sys.Name, sys.Params["server"])
	}
	c.cmd = exec.Command(argv[0], argv[1:]...)
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// polyfork cluster says where it listens on stderr, Node on stdout.
	out, err := c.cmd.StderrPipe()
	if sys.Params["server"] != "polyfork" {
		c.cmd.Stderr = os.Stderr
		out, err = c.cmd.StdoutPipe()
	}
	if err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, out) // the logs of restarts, if any
		close(found)
	}()
	select {
	case a, ok := <-found:
		if !ok {
			c.kill()
			return nil, fmt.Errorf("%s exited before it listened", argv[0])
		}
		c.addr = a
		if _, err := strconv.Atoi(a); err == nil {
			c.addr = "127.0.0.1:" + a
		}
	case <-time.After(30 * time.Second):
		c.kill()
		return nil, fmt.Errorf("%s did not listen within 30 s", argv[0])
	}
	if err := c.waitForWorkers(workers); err != nil {
		c.kill()
		return nil, err
	}
	c.seq = newHTTPConn(c.addr, c.keepAlive)
	return c, nil
}

// waitForWorkers makes requests on new connections until n distinct workers answered:
// polyfork's plain workers count as started before they listen.
func (c *httpCluster) waitForWorkers(n int) error {
	seen := map[string]bool{}
	h := newHTTPConn(c.addr, false)
	for deadline := time.Now().Add(30 * time.Second); len(seen) < n; {
		pid, err := h.post("ping")
		if err != nil {
			return fmt.Errorf("warming up %s: %w", c.sys.Name, err)
		}
		seen[pid] = true
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: only %d of %d workers answered within 30 s", c.sys.Name, len(seen), n)
		}
	}
	return nil
}

// buildPolyfork builds the polyfork command into bench/out/bin (go build skips the work
// when nothing changed).
func buildPolyfork(root string) (string, error) {
	bin := filepath.Join(root, "bench", "out", "bin", "polyfork")
	build := exec.Command("go", "build", "-o", bin, "./cmd/polyfork")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building polyfork: %v: %s", err, out)
	}
	return bin, nil
}

func (c *httpCluster) roundTrip(payload string) error {
	_, err := c.seq.post(payload)
	return err
}

func (c *httpCluster) throughput(payload string, d time.Duration, conc int) (int64, time.Duration, error) {
	conns := make(chan *httpConn, conc)
	for i := 0; i < conc; i++ {
		conns <- newHTTPConn(c.addr, c.keepAlive)
	}
	var mu sync.Mutex
	local := map[string]int64{}
	calls, took, err := callers(conc, d, func() error {
		h := <-conns
		defer func() { conns <- h }()
		pid, err := h.post(payload)
		if err == nil {
			mu.Lock()
			local[pid]++
			mu.Unlock()
		}
		return err
	})
	close(conns)
	for h := range conns {
		h.close()
	}
	c.mu.Lock()
	for pid, n := range local {
		c.shares[pid] += n
	}
	c.mu.Unlock()
	return calls, took, err
}

// close stops the server (SIGTERM: polyfork cluster drains its workers, Node's primary
// stops its own) and records the shares.
func (c *httpCluster) close() error {
	c.seq.close()
	c.recordShares()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL) // leftovers, if any
		return err
	case <-time.After(15 * time.Second):
		c.kill()
		<-done
		return fmt.Errorf("%s did not stop within 15 s of SIGTERM", c.sys.Name)
	}
}

func (c *httpCluster) kill() {
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
}

// recordShares prints each worker's share of the throughput phases' answers and appends
// them to bench/out/cluster-shares.jsonl.
func (c *httpCluster) recordShares() {
	c.mu.Lock()
	defer c.mu.Unlock()
	var total int64
	pids := make([]string, 0, len(c.shares))
	for pid, n := range c.shares {
		total += n
		pids = append(pids, pid)
	}
	if total == 0 {
		return
	}
	sort.Slice(pids, func(i, j int) bool { return c.shares[pids[i]] > c.shares[pids[j]] })
	percent := make([]float64, len(pids))
	for i, pid := range pids {
		percent[i] = float64(int(1000*float64(c.shares[pid])/float64(total))) / 10
	}
	fmt.Fprintf(os.Stderr, "%s: answers per worker, most first: %v%% of %d\n", c.sys.Name, percent, total)
	line, _ := json.Marshal(map[string]any{"system": c.sys.Name, "answers": total, "shares_percent": percent,
		"cpus": runtime.NumCPU(), // 1 when pinned: NumCPU counts the CPUs this process may run on
		"date": time.Now().UTC().Format(time.RFC3339)})
	f, err := os.OpenFile(filepath.Join(c.root, "bench", "out", "cluster-shares.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.Write(append(line, '\n'))
}
