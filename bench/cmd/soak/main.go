// Command soak is polyfork's soak test: a long stream of calls through pools of
// Python, PHP and Node workers behind polyfork serve, one serve per language, while a
// worker is killed with SIGKILL every few thousand calls and HTTP clients send a share of
// hostile requests (method names that are not UTF-8, bodies nested 129 deep, bodies over
// the size limit, invalid JSON, slow bodies and headers, connection floods).
//
// It accounts for every request: answered (results are checked), refused as serve must
// refuse it, or failed with a reason (status and error type), and none lost (no
// transport error, no hang). It reads each serve's goroutines, descriptors and RSS from
// /metrics and /proc at the start and at the end, when the traffic has stopped, and
// checks that they are back to where they started. It prints a summary table, writes it
// as JSON, and exits 1 when a check fails.
//
//	soak -polyfork bench/out/bin/polyfork                 # 1,000,000 calls
//	soak -polyfork bench/out/bin/polyfork -short          # a smoke run of 20,000 calls
//
// Run it from the repository's root (make soak does; SOAK_CALLS and SOAK_SHORT=1 there).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/polyfork/polyfork/bench"
)

// config is everything a soak run is told.
type config struct {
	root     string
	polyfork string
	out      string
	langs    []string
	short    bool

	calls        int64         // calls through the pools
	callers      int           // concurrent callers per serve
	hostileShare float64       // share of a caller's requests that are hostile, besides the calls
	killEvery    int64         // calls between two kills, on average
	killAge      time.Duration // the youngest worker a kill may hit
	slowEvery    int64         // calls between two rounds of slow requests
	floodEvery   int64         // calls between two connection floods
	floodConns   int           // connections one flood opens
	rssSlack     int64         // how far above its start a serve's RSS may end
	seed         uint64

	// serve's own flags
	workers       int
	maxConns      int
	maxBody       int
	maxValues     int
	bodyTimeout   time.Duration
	headerTimeout time.Duration
}

func main() {
	var c config
	var langs string
	flag.StringVar(&c.root, "root", ".", "the repository's root")
	flag.StringVar(&c.polyfork, "polyfork", "bench/out/bin/polyfork", "the polyfork binary to run serve from")
	flag.StringVar(&c.out, "out", "bench/out", "folder of the JSON summary (soak.json) and serve's logs")
	flag.StringVar(&langs, "langs", "python,php,node", "the workers' languages: one serve each")
	flag.BoolVar(&c.short, "short", false, "a smoke run: 20,000 calls, with kills, slow requests and floods closer together")
	flag.Int64Var(&c.calls, "calls", 0, "calls through the pools (default 1000000; 20000 with -short)")
	flag.IntVar(&c.callers, "callers", 8, "concurrent callers per serve")
	flag.Float64Var(&c.hostileShare, "hostile", 0.02, "share of the callers' requests that are hostile (on top of the calls)")
	flag.Int64Var(&c.killEvery, "kill-every", 0, "calls between two kill -9 of a worker, on average (default 4000; 1000 with -short)")
	flag.DurationVar(&c.killAge, "kill-age", -1, "kill only workers up at least this long (default 10s, the pool's healthy uptime; 1s with -short; 0: any)")
	flag.Int64Var(&c.slowEvery, "slow-every", 0, "calls between two rounds of slow requests (default 5000; 1000 with -short)")
	flag.Int64Var(&c.floodEvery, "flood-every", 0, "calls between two connection floods (default 100000; 5000 with -short)")
	flag.IntVar(&c.floodConns, "flood-conns", 300, "connections one flood opens (above -max-conns, so some wait in the backlog)")
	flag.Int64Var(&c.rssSlack, "rss-slack", 32<<20, "bytes a serve's RSS may end above its start (in a million calls, a leak of 34 bytes per call passes it)")
	flag.Uint64Var(&c.seed, "seed", 0, "random seed (0: from the clock)")
	flag.IntVar(&c.workers, "workers", 3, "serve -workers")
	flag.IntVar(&c.maxConns, "max-conns", 256, "serve -max-conns")
	flag.IntVar(&c.maxBody, "max-body", 256<<10, "serve -max-body, in bytes")
	flag.IntVar(&c.maxValues, "max-values", 20000, "serve -max-values")
	flag.DurationVar(&c.bodyTimeout, "body-timeout", 2*time.Second, "serve -body-timeout")
	flag.DurationVar(&c.headerTimeout, "read-header-timeout", 2*time.Second, "serve -read-header-timeout")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: soak [flags]   (run from the repository's root)")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	c.langs = strings.Split(langs, ",")
	c.setDefaults()
	if c.seed == 0 {
		c.seed = uint64(time.Now().UnixNano())
	}
	var err error
	if c.root, err = filepath.Abs(c.root); err == nil {
		c.polyfork, err = filepath.Abs(c.polyfork)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if _, err := os.Stat(c.polyfork); err != nil {
		fmt.Fprintf(os.Stderr, "soak: no polyfork binary (%v): build it with go build -o %s ./cmd/polyfork, or run make soak\n", err, c.polyfork)
		os.Exit(2)
	}
	ok, err := run(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// setDefaults fills in what was not given, for a full or a short run.
func (c *config) setDefaults() {
	def := func(v *int64, full, short int64) {
		if *v <= 0 {
			*v = full
			if c.short {
				*v = short
			}
		}
	}
	def(&c.calls, 1_000_000, 20_000)
	def(&c.killEvery, 4000, 1000)
	def(&c.slowEvery, 5000, 1000)
	def(&c.floodEvery, 100_000, 5000)
	if c.killAge < 0 {
		c.killAge = 10 * time.Second
		if c.short {
			c.killAge = time.Second
		}
	}
}

// interpreter returns the command of lang's interpreter (POLYFORK_PYTHON and the others
// override them).
func interpreter(lang string) string { return bench.Interpreter(lang, os.Getenv) }
