package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// server is one polyfork serve process with a pool of one language's workers, and what
// the soak learns about it.
type server struct {
	lang    string
	workers int
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:PORT
	addr    string // 127.0.0.1:PORT
	monitor *http.Client
	exited  chan struct{}
	exitErr error

	kills atomic.Int64

	mu      sync.Mutex
	pids    map[int]bool   // every worker pid seen
	logMsgs map[string]int // serve's own log records by message
	stderrN int            // the workers' stderr lines relayed
	lastErr string         // the last record at level ERROR
}

// serveFlags are the limits every soak serve runs with: small enough that hostile
// requests meet them quickly, the rest serve's defaults.
func serveFlags(c config) []string {
	return []string{
		"-addr", "127.0.0.1:0", "-workers", strconv.Itoa(c.workers), "-log-format", "json",
		"-max-body", strconv.Itoa(c.maxBody), "-max-values", strconv.Itoa(c.maxValues),
		"-body-timeout", c.bodyTimeout.String(), "-read-header-timeout", c.headerTimeout.String(),
		"-max-conns", strconv.Itoa(c.maxConns), "-timeout", "30s", "-drain", "30s",
	}
}

// workerCommand is the conformance child of lang (protocol/SPEC.md section 9), which
// serves echo, add, fail and sleep with the client's public API.
func workerCommand(root, lang string) ([]string, error) {
	var script string
	switch lang {
	case "python":
		script = "clients/python/tests/conformance_child.py"
	case "php":
		script = "clients/php/tests/conformance_child.php"
	case "node":
		script = "clients/node/test/conformance_child.js"
	default:
		return nil, fmt.Errorf("no worker for language %q (want python, php or node)", lang)
	}
	interp := interpreter(lang)
	if _, err := exec.LookPath(interp); err != nil {
		return nil, fmt.Errorf("%s workers need %s: %w", lang, interp, err)
	}
	return []string{interp, filepath.Join(root, script)}, nil
}

// startServer starts polyfork serve for lang, with its log in logPath, and waits until it
// listens and every worker is ready.
func startServer(c config, lang, logPath string) (*server, error) {
	argv, err := workerCommand(c.root, lang)
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := append(append(append([]string{"serve"}, serveFlags(c)...), "--"), argv...)
	cmd := exec.Command(c.polyfork, args...)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(c.root, "clients", "python", "src"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", c.polyfork, err)
	}
	s := &server{
		lang: lang, workers: c.workers, cmd: cmd, exited: make(chan struct{}),
		monitor: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}},
		pids:    map[int]bool{}, logMsgs: map[string]int{},
	}
	listening := make(chan string, 1)
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		defer logFile.Close()
		s.readLog(stderr, logFile, listening)
	}()
	go func() {
		<-logged // Wait must not close the pipe before the log is read
		s.exitErr = cmd.Wait()
		close(s.exited)
	}()
	select {
	case url := <-listening:
		s.base, s.addr = url, strings.TrimPrefix(url, "http://")
	case <-s.exited:
		return nil, fmt.Errorf("%s serve exited before listening (%v); see %s", lang, s.exitErr, logPath)
	case <-time.After(60 * time.Second):
		s.kill()
		return nil, fmt.Errorf("%s serve did not listen within 60s; see %s", lang, logPath)
	}
	if err := s.waitSettled(60*time.Second, nil); err != nil {
		s.kill()
		return nil, err
	}
	return s, nil
}

// readLog copies serve's stderr to the log file and counts its records.
func (s *server) readLog(r io.Reader, w io.Writer, listening chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		_, _ = w.Write(append(line, '\n'))
		var rec struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			URL   string `json:"url"`
			Err   string `json:"err"`
		}
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		s.mu.Lock()
		if rec.Msg == "worker stderr" {
			s.stderrN++
		} else {
			s.logMsgs[rec.Msg]++
		}
		if rec.Level == "ERROR" {
			s.lastErr = rec.Msg + ": " + rec.Err
		}
		s.mu.Unlock()
		if rec.Msg == "listening" {
			select {
			case listening <- rec.URL:
			default:
			}
		}
	}
	_, _ = io.Copy(w, r)
}

// snapshot is what the soak reads about a serve process at one moment: from its /metrics
// page and from /proc.
type snapshot struct {
	Goroutines   int   `json:"goroutines"`
	FDs          int   `json:"fds"`      // process_open_fds
	ProcFDs      int   `json:"proc_fds"` // entries of /proc/PID/fd
	RSS          int64 `json:"rss"`      // process_resident_memory_bytes
	ProcRSS      int64 `json:"proc_rss"` // VmRSS
	PeakRSS      int64 `json:"peak_rss"` // VmHWM: the highest RSS so far
	HeapAlloc    int64 `json:"heap_alloc"`
	Threads      int   `json:"threads"`
	Conns        int   `json:"http_connections"`
	Arriving     int   `json:"bodies_arriving"`
	BodyBytes    int64 `json:"body_bytes_in_flight"`
	Ready        int   `json:"workers_ready"`
	Queued       int   `json:"queued"`
	CrashLooping bool  `json:"crash_looping"`
	Restarts     int   `json:"restarts"`
}

// snapshot scrapes /metrics and reads /proc.
func (s *server) snapshot() (snapshot, error) {
	resp, err := s.monitor.Get(s.base + "/metrics")
	if err != nil {
		return snapshot{}, err
	}
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return snapshot{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return snapshot{}, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	m := parseMetrics(string(page))
	snap := snapshot{
		Goroutines: int(m["go_goroutines"]), FDs: int(m["process_open_fds"]),
		RSS: int64(m["process_resident_memory_bytes"]), HeapAlloc: int64(m["go_memstats_heap_alloc_bytes"]),
		Conns: int(m["polyfork_http_connections"]), Arriving: int(m["polyfork_http_bodies_arriving"]),
		BodyBytes: int64(m["polyfork_body_bytes_in_flight"]), Ready: int(m["polyfork_workers_ready"]),
		Queued: int(m["polyfork_queue_length"]), CrashLooping: m["polyfork_crash_looping"] > 0,
		Restarts: int(m["polyfork_worker_restarts_total"]),
	}
	pid := s.cmd.Process.Pid
	if entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		snap.ProcFDs = len(entries)
	}
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		st := parseProcStatus(string(status))
		snap.ProcRSS, snap.PeakRSS, snap.Threads = st["VmRSS"], st["VmHWM"], int(st["Threads"])
	}
	return snap, nil
}

// parseMetrics reads a Prometheus text page into the sum of each metric's samples (so a
// counter with a label per worker reads as its total).
func parseMetrics(page string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(page, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		name := line[:i]
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name = name[:j]
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[name] += v
	}
	return out
}

// parseProcStatus reads /proc/PID/status into numbers: sizes in bytes, counts as they are.
func parseProcStatus(status string) map[string]int64 {
	out := map[string]int64{}
	for _, line := range strings.Split(status, "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 1 && f[1] == "kB" {
			n <<= 10
		}
		out[name] = n
	}
	return out
}

// workerStat is one worker of GET /workers.
type workerStat struct {
	Index    int    `json:"index"`
	Pid      int    `json:"pid"`
	State    string `json:"state"`
	Restarts int    `json:"restarts"`
	Uptime   int64  `json:"uptime_ns"`
}

// workerStats reads GET /workers and remembers every pid it names.
func (s *server) workerStats() ([]workerStat, error) {
	resp, err := s.monitor.Get(s.base + "/workers")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st struct {
		Workers []workerStat `json:"workers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("GET /workers: %w", err)
	}
	s.mu.Lock()
	for _, w := range st.Workers {
		if w.Pid != 0 {
			s.pids[w.Pid] = true
		}
	}
	s.mu.Unlock()
	return st.Workers, nil
}

// waitSettled waits until the serve is quiet: every worker ready, no call queued, no body
// arriving or held, and only the monitor's connection open. It returns the last snapshot
// through last when last is not nil.
func (s *server) waitSettled(limit time.Duration, last *snapshot) error {
	deadline := time.Now().Add(limit)
	var snap snapshot
	var err error
	for {
		if _, err = s.workerStats(); err == nil {
			snap, err = s.snapshot()
		}
		quiet := err == nil && snap.Ready == s.workers && snap.Queued == 0 && snap.Arriving == 0 &&
			snap.BodyBytes == 0 && snap.Conns == 1
		if quiet || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if last != nil {
		*last = snap
	}
	if err != nil {
		return fmt.Errorf("%s serve: %w", s.lang, err)
	}
	if snap.Ready != s.workers || snap.Queued != 0 || snap.Arriving != 0 || snap.BodyBytes != 0 || snap.Conns != 1 {
		return fmt.Errorf("%s serve did not settle within %v: %d of %d workers ready, %d queued, %d bodies arriving, %d body bytes held, %d connections",
			s.lang, limit, snap.Ready, s.workers, snap.Queued, snap.Arriving, snap.BodyBytes, snap.Conns)
	}
	return nil
}

// stop sends SIGTERM and waits for serve to drain and exit. It returns the exit status.
func (s *server) stop(limit time.Duration) (int, error) {
	s.monitor.CloseIdleConnections()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return -1, err
	}
	select {
	case <-s.exited:
	case <-time.After(limit):
		s.kill()
		return -1, fmt.Errorf("%s serve did not exit within %v of SIGTERM; killed", s.lang, limit)
	}
	return s.cmd.ProcessState.ExitCode(), nil
}

func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// leftRunning returns the worker pids seen during the run that still exist and still
// run this serve's worker command.
func (s *server) leftRunning() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for pid := range s.pids {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && strings.Contains(string(cmdline), "conformance_child") {
			out = append(out, pid)
		}
	}
	return out
}

// logCount returns how many records serve logged with message msg.
func (s *server) logCount(msg string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logMsgs[msg]
}

// settleLeaks waits up to limit for goroutines and descriptors to come back to base (the
// runtime and the kernel release them a little after the last connection closes) and
// returns the last snapshot.
func (s *server) settleLeaks(base snapshot, limit time.Duration) (snapshot, error) {
	deadline := time.Now().Add(limit)
	for {
		snap, err := s.snapshot()
		if err != nil {
			return snap, err
		}
		if (snap.Goroutines <= base.Goroutines && snap.FDs <= base.FDs && snap.ProcFDs <= base.ProcFDs) ||
			time.Now().After(deadline) {
			return snap, nil
		}
		time.Sleep(500 * time.Millisecond)
	}
}
