// Command cluster-http is the seed's process-cluster.js for every language: HTTP workers
// in Python, PHP and Node behind one port. The Go host binds the port once and passes the
// socket to every worker (descriptor 3, LISTEN_FDS: see bridge.WithListeners); the
// kernel hands each connection to one of them; a worker that dies is replaced while the
// port stays open, so no connection is refused.
//
//	go run ./examples/cluster-http            # the demo: load, kill -9, reload, counts
//	go run ./examples/cluster-http -serve     # only the cluster, until Ctrl-C
//	curl localhost:3000/                      # hello from php worker 1234
//
// The demo keeps a load generator running (a new connection per request) while it kills
// a worker with SIGKILL and, later, replaces every worker one by one (what SIGHUP does to
// polyfork cluster); then it prints how many requests each worker answered and how many
// failed. Requests that the killed worker had accepted may fail; none may be refused.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/polyfork/polyfork/bridge"
)

func here() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// worker is how each language's worker runs. The Python and PHP workers speak the
// polyfork protocol on a channel of their own (the host's $stop stops them, $ready says
// they listen); the Node worker is a plain server that SIGTERM stops (ChannelNone): the
// Node client exits at $stop without waiting for the HTTP requests in flight.
func worker(lang string) (argv []string, opts []bridge.Option, err error) {
	dir := here()
	switch lang {
	case "python":
		src := filepath.Join(dir, "..", "..", "clients", "python", "src")
		return []string{env("POLYFORK_PYTHON", "python3"), filepath.Join(dir, "worker.py")},
			[]bridge.Option{bridge.WithChannel(bridge.ChannelFDs), bridge.WithEnv("PYTHONPATH=" + src)}, nil
	case "php":
		return []string{env("POLYFORK_PHP", "php"), filepath.Join(dir, "worker.php")},
			[]bridge.Option{bridge.WithChannel(bridge.ChannelFDs)}, nil
	case "node":
		return []string{env("POLYFORK_NODE", "node"), filepath.Join(dir, "worker.js")},
			[]bridge.Option{bridge.WithChannel(bridge.ChannelNone)}, nil
	}
	return nil, nil, fmt.Errorf("unknown language %q: want python, php or node", lang)
}

// cluster is one pool per language, all serving one listening socket.
type cluster struct {
	addr  string
	langs []string
	pools map[string]*bridge.Pool
}

// startCluster binds addr and starts workers of each language on it. The listener is
// closed once the pools hold the socket: the host itself never accepts.
func startCluster(ctx context.Context, addr string, langs []string, workers int, logs io.Writer) (*cluster, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	c := &cluster{addr: ln.Addr().String(), langs: langs, pools: map[string]*bridge.Pool{}}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	for _, lang := range langs {
		argv, opts, err := worker(lang)
		if err == nil {
			opts = append(opts, bridge.WithListener("http", ln), bridge.WithWorkers(workers), bridge.WithName(lang),
				bridge.WithStderr(logs), bridge.WithLogger(logger), bridge.WithGracePeriods(5*time.Second, 2*time.Second))
			var p *bridge.Pool
			if p, err = bridge.NewPool(ctx, argv, opts...); err == nil {
				c.pools[lang] = p
				continue
			}
		}
		c.close()
		return nil, fmt.Errorf("starting the %s workers: %w", lang, err)
	}
	return c, nil
}

// pids returns the pids of the workers of every language.
func (c *cluster) pids() map[int]string {
	out := map[int]string{}
	for lang, p := range c.pools {
		for _, w := range p.Stats().Workers {
			if w.Pid != 0 {
				out[w.Pid] = lang
			}
		}
	}
	return out
}

// reload replaces every worker of every language, one by one.
func (c *cluster) reload(ctx context.Context) error {
	for _, lang := range c.langs {
		if err := c.pools[lang].Reload(ctx); err != nil {
			return fmt.Errorf("%s: %w", lang, err)
		}
	}
	return nil
}

func (c *cluster) close() {
	var wg sync.WaitGroup
	for _, p := range c.pools {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.Close()
		}()
	}
	wg.Wait()
}

// load is the load generator: goroutines making requests, a new connection each, until
// stopped; it counts the answers by worker and the failures by kind.
type load struct {
	mu      sync.Mutex
	byPid   map[int]int
	langOf  map[int]string
	refused int
	failed  []string
	stop    chan struct{}
	wg      sync.WaitGroup
}

var answerRE = regexp.MustCompile(`^hello from (\w+) worker (\d+)\n$`)

func startLoad(addr string, goroutines int) *load {
	l := &load{byPid: map[int]int{}, langOf: map[int]string{}, stop: make(chan struct{})}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	for i := 0; i < goroutines; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				lang, pid, err := get(client, "http://"+addr+"/")
				l.mu.Lock()
				switch {
				case errors.Is(err, syscall.ECONNREFUSED):
					l.refused++
				case err != nil:
					l.failed = append(l.failed, err.Error())
				default:
					l.byPid[pid]++
					l.langOf[pid] = lang
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func get(client *http.Client, url string) (lang string, pid int, err error) {
	resp, err := client.Get(url)
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
		return "", 0, fmt.Errorf("status %d: %q", resp.StatusCode, body)
	}
	pid, _ = strconv.Atoi(m[2])
	return m[1], pid, nil
}

func (l *load) served(pid int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byPid[pid]
}

func (l *load) end() {
	close(l.stop)
	l.wg.Wait()
}

// report is what the demo found.
type report struct {
	ByPid    map[int]int    // requests answered by each worker pid
	LangOf   map[int]string // its language
	Failed   []string       // requests that failed, other than refused
	Refused  int            // connections refused: must be 0
	Killed   int            // the worker killed with SIGKILL
	Replaced int            // the worker that took its place
	Reloaded bool           // every worker was replaced one by one
}

// demo runs the cluster under load for d: it kills a worker a third of the way in and
// reloads every worker two thirds of the way in.
func demo(ctx context.Context, c *cluster, d time.Duration, out io.Writer) (report, error) {
	l := startLoad(c.addr, 8)
	defer l.end()
	r := report{}
	fmt.Fprintf(out, "load: 8 clients, a new connection per request, for %v\n", d)
	time.Sleep(d / 3)

	victimLang := c.langs[0]
	p := c.pools[victimLang]
	r.Killed = p.Stats().Workers[0].Pid
	fmt.Fprintf(out, "kill -9 %s worker %d\n", victimLang, r.Killed)
	victim, err := os.FindProcess(r.Killed)
	if err != nil {
		return r, err
	}
	if err := victim.Kill(); err != nil { // SIGKILL on Unix
		return r, err
	}
	killedAt := time.Now()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if pid := p.Stats().Workers[0].Pid; pid != 0 && pid != r.Killed && l.served(pid) > 0 {
			r.Replaced = pid
			break
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("worker %d was not replaced within 10 s", r.Killed)
		}
	}
	fmt.Fprintf(out, "%s worker %d took its place and answered within %v\n", victimLang, r.Replaced, time.Since(killedAt).Round(time.Millisecond))

	time.Sleep(d/3 - time.Since(killedAt))
	fmt.Fprintf(out, "replacing every worker one by one (what SIGHUP does to polyfork cluster)\n")
	if err := c.reload(ctx); err != nil {
		return r, err
	}
	r.Reloaded = true
	time.Sleep(d / 3)
	l.end()
	l.stop = make(chan struct{}) // the deferred end is now a no-op
	r.ByPid, r.LangOf, r.Failed, r.Refused = l.byPid, l.langOf, l.failed, l.refused
	return r, nil
}

func (r report) print(out io.Writer) {
	pids := make([]int, 0, len(r.ByPid))
	total := 0
	for pid, n := range r.ByPid {
		pids = append(pids, pid)
		total += n
	}
	sort.Slice(pids, func(i, j int) bool {
		if r.LangOf[pids[i]] != r.LangOf[pids[j]] {
			return r.LangOf[pids[i]] < r.LangOf[pids[j]]
		}
		return pids[i] < pids[j]
	})
	fmt.Fprintf(out, "\n%-8s %7s %9s\n", "worker", "pid", "answered")
	for _, pid := range pids {
		note := ""
		switch pid {
		case r.Killed:
			note = "  (killed with SIGKILL)"
		case r.Replaced:
			note = "  (its replacement)"
		}
		fmt.Fprintf(out, "%-8s %7d %9d%s\n", r.LangOf[pid], pid, r.ByPid[pid], note)
	}
	fmt.Fprintf(out, "\n%d requests answered by %d workers; %d failed (connections the killed worker had accepted), %d refused\n",
		total, len(pids), len(r.Failed), r.Refused)
	for i, f := range r.Failed {
		if i == 3 {
			fmt.Fprintf(out, "  ...\n")
			break
		}
		fmt.Fprintf(out, "  %s\n", f)
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "address to listen on")
	langs := flag.String("langs", "python,php,node", "languages of the workers, comma-separated")
	workers := flag.Int("workers", 2, "workers per language")
	duration := flag.Duration("duration", 6*time.Second, "how long the demo's load runs")
	serve := flag.Bool("serve", false, "only run the cluster, until Ctrl-C")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := startCluster(ctx, *addr, strings.Split(*langs, ","), *workers, os.Stderr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.close()
	fmt.Printf("listening on http://%s: workers %v\n", c.addr, c.pids())
	if *serve {
		<-ctx.Done()
		return
	}
	r, err := demo(ctx, c, *duration, os.Stdout)
	if err != nil {
		c.close()
		log.Fatal(err)
	}
	r.print(os.Stdout)
	if r.Refused > 0 {
		c.close()
		os.Exit(1)
	}
}
