package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/polyfork/polyfork/bench"
)

type options struct {
	quick, full       bool
	systems           string
	rounds            int
	out, docs, before string
	saveBefore        bool
	plotPython        string
	noGoBench         bool
}

// trialTimeout bounds one driver run; past it the driver's process group is killed.
const trialTimeout = 3 * time.Minute

// run measures, writes the results and returns the rows.
func run(o options) ([]bench.Row, error) {
	cfg := bench.QuickConfig()
	if o.full {
		cfg = bench.FullConfig()
	}
	cfg, err := cfg.Select(o.systems)
	if err != nil {
		return nil, err
	}
	if o.rounds > 0 {
		cfg.Rounds = o.rounds
	}
	root, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(root, "bench", "children", "raw_echo.c")); err != nil {
		return nil, fmt.Errorf("run benchrun from the repository's root (no bench/children/raw_echo.c in %s)", root)
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return nil, fmt.Errorf("taskset (util-linux) is needed to pin latency runs to one CPU: %w", err)
	}
	paths, err := prepare(root, o.out)
	if err != nil {
		return nil, err
	}
	started := time.Now()
	machine := collectMachine(root, paths)
	entries := cfg.Schedule()
	fmt.Fprintf(os.Stderr, "benchrun: %s run, %d systems, %d rounds after a warm-up round, %d driver runs\n",
		cfg.Name, len(cfg.Systems), cfg.Rounds, len(entries))
	var obs []bench.Observation
	for i, e := range entries {
		spec := cfg.SpecFor(e)
		t0 := time.Now()
		trial, err := runTrial(e, spec, paths)
		pin := "unpinned"
		if e.Pinned() {
			pin = "cpu" + bench.PinnedCPU
		}
		fmt.Fprintf(os.Stderr, "  [%3d/%d] round %d %-22s %-8s %-8s %5.1fs\n", i+1, len(entries), e.Round,
			e.System.Name, e.Mode, pin, time.Since(t0).Seconds())
		o := bench.Observation{Round: e.Round, System: e.System, Mode: e.Mode, Trial: trial}
		if err != nil {
			// One broken system must not cost the whole run: record it, go on, report it.
			o.Err = err.Error()
			fmt.Fprintf(os.Stderr, "  FAILED: %v\n", err)
		}
		obs = append(obs, o)
	}
	rows := bench.Aggregate(obs)
	failures := bench.Failures(obs)
	r := bench.Run{
		Kind: cfg.Name, Date: started.UTC().Format(time.RFC3339), Machine: machine,
		Rounds: cfg.Rounds, Spec: cfg.Spec, TwoCPU: cfg.TwoCPU, Rows: rows,
		Seconds: time.Since(started).Seconds(), Failures: failures,
	}
	if o.full && !o.noGoBench {
		fmt.Fprintln(os.Stderr, "benchrun: Go micro-benchmarks (go test -bench . -benchmem ./protocol ./bridge)")
		r.GoBench, err = goBench(root)
		if err != nil {
			return nil, err
		}
	}
	if err := writeRun(r, o.out); err != nil {
		return nil, err
	}
	if o.saveBefore {
		if err := saveJSON(o.before, r); err != nil {
			return nil, err
		}
	}
	if o.full && o.docs != "" {
		if err := writeDocs(r, o.docs, o.before, o.out, o.plotPython, paths); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(os.Stderr, "benchrun: done in %.0fs\n", time.Since(started).Seconds())
	if o.quick {
		// The summary goes to stdout, the progress above to stderr.
		fmt.Printf("\n%s run, %s UTC, median of %d rounds; p50/p99: sequential calls, one in flight; calls/s: %d in flight.\n",
			cfg.Name, r.Date, cfg.Rounds, cfg.Spec.Conc)
		fmt.Printf("Pinned systems run parent and child on CPU %s (calls/s on one CPU); unpinned ones (pools) use both CPUs.\n", bench.PinnedCPU)
		fmt.Printf("Ratios: system ÷ the bare exchange of its language, and ÷ raw-pipe (the limit): p50 below 1 is sooner, calls/s above 1 is more.\n\n")
		fmt.Print(bench.Summary(rows))
	}
	if len(failures) > 0 {
		return rows, fmt.Errorf("%d of %d driver runs failed (listed in %s-run.json%s); the results leave them out",
			len(failures), len(entries), filepath.Join(o.out, cfg.Name), map[bool]string{true: " and the report", false: ""}[o.full && o.docs != ""])
	}
	return rows, nil
}

// prepare builds the C raw echo and finds the interpreters and this binary.
func prepare(root, out string) (bench.Paths, error) {
	self, err := os.Executable()
	if err != nil {
		return bench.Paths{}, err
	}
	bin := filepath.Join(root, "bench", "out", "bin") // where bench.ChildCommand looks
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return bench.Paths{}, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return bench.Paths{}, err
	}
	raw := filepath.Join(bin, "raw_echo")
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	build := exec.Command(cc, "-O2", "-pthread", "-o", raw, filepath.Join(root, "bench", "children", "raw_echo.c"))
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return bench.Paths{}, fmt.Errorf("building the raw echo with %s (install gcc, or set CC): %w", cc, err)
	}
	p := bench.Paths{Root: root, Self: self, RawEcho: raw,
		Node: bench.Interpreter("node", os.Getenv), Python: bench.Interpreter("python", os.Getenv)}
	return p, nil
}

// driverEnv is the environment of every driver: the runner's, without what a user's
// process would not have (PYTHONUNBUFFERED makes Python children flush each write;
// PYTHONDONTWRITEBYTECODE makes every Python start compile the client again).
func driverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PYTHONUNBUFFERED=") || strings.HasPrefix(kv, "PYTHONDONTWRITEBYTECODE=") ||
			strings.HasPrefix(kv, "GOMAXPROCS=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// runTrial runs one driver in a process group of its own, and kills whatever is left in
// the group when it ends (polyfork children leave with the driver: parent-death signal).
func runTrial(e bench.Entry, spec bench.Spec, p bench.Paths) (bench.Trial, error) {
	argv, err := bench.DriverCommand(e.System, spec, e.Pinned(), p)
	if err != nil {
		return bench.Trial{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), trialTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = p.Root
	cmd.Env = driverEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // leftovers, if any
	}
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("no result within %v", trialTimeout)
		}
		return bench.Trial{}, fmt.Errorf("%w: %s\n  command: %s", err, tail(stderr.String(), 2000), strings.Join(argv, " "))
	}
	return bench.ParseTrial(stdout.Bytes(), spec)
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	if s == "" {
		return "(empty)"
	}
	return s
}
