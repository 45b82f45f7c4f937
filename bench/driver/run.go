package driver

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/polyfork/polyfork/bench"
)

// Run measures the system named by the KEY=VALUE arguments (bench.Spec, plus root= the
// repository's root) and writes the trial to out as one line of JSON.
//
// Extra keys, for profiling (bench/profile.sh): cpuprofile=FILE and memprofile=FILE write
// the Go host's pprof CPU and allocation profiles of the whole run; child_profile=DIR runs
// the child under its language's profiler (Python cProfile, Node --cpu-prof, PHP under
// perf record) with its output in DIR.
func Run(args []string, out io.Writer) error {
	spec, extra, err := bench.ParseSpec(args)
	if err != nil {
		return err
	}
	root := extra["root"]
	if root == "" {
		return fmt.Errorf("driver: root= (the repository's root) is missing")
	}
	sys, ok := bench.Lookup(spec.System)
	if !ok || sys.Driver != bench.DriverGo {
		return fmt.Errorf("driver: %q is not a system measured from Go", spec.System)
	}
	if f := extra["memprofile"]; f != "" {
		runtime.MemProfileRate = 4096
	}
	ch, err := open(sys, root, extra["child_profile"])
	if err != nil {
		return fmt.Errorf("driver: starting %s: %w", sys.Name, err)
	}
	if f := extra["cpuprofile"]; f != "" {
		w, err := os.Create(f)
		if err != nil {
			ch.close()
			return err
		}
		defer w.Close()
		if err := pprof.StartCPUProfile(w); err != nil {
			ch.close()
			return err
		}
	}
	var trial bench.Trial
	switch {
	case sys.Group == bench.GroupHostCost:
		trial, err = measureHostCost(spec, ch)
	case sys.Params["mix"] != "":
		trial, err = measureMixed(spec, ch.(*pool))
	default:
		trial, err = measure(spec, ch)
	}
	if extra["cpuprofile"] != "" {
		pprof.StopCPUProfile()
	}
	if f := extra["memprofile"]; f != "" {
		if werr := writeHeap(f); err == nil {
			err = werr
		}
	}
	if cerr := ch.close(); err == nil && cerr != nil {
		err = fmt.Errorf("driver: closing %s: %w", sys.Name, cerr)
	}
	if err != nil {
		return fmt.Errorf("driver: %w", err)
	}
	return json.NewEncoder(out).Encode(trial)
}

func writeHeap(file string) error {
	w, err := os.Create(file)
	if err != nil {
		return err
	}
	defer w.Close()
	return pprof.Lookup("allocs").WriteTo(w, 0)
}

// open starts the system's child (or pool).
func open(sys bench.System, root, profileDir string) (channel, error) {
	kind := "echo"
	if sys.Group == bench.GroupBare || (sys.Group == bench.GroupHostCost && sys.Params["kind"] == "bare") {
		kind = "bare"
	}
	argv, env, err := bench.ChildCommand(root, sys.Lang, kind, os.Getenv)
	if err != nil {
		return nil, err
	}
	if profileDir != "" {
		argv, err = profiled(argv, sys.Lang, profileDir)
		if err != nil {
			return nil, err
		}
	}
	switch sys.Group {
	case bench.GroupPolyfork:
		if ch := sys.Params["channel"]; ch != "" {
			return startOnChannel(argv, env, ch)
		}
		return startProcess(argv, env)
	case bench.GroupPool:
		workers, _ := strconv.Atoi(sys.Params["workers"])
		if workers < 1 {
			workers = runtime.NumCPU()
		}
		conc, _ := strconv.Atoi(sys.Params["concurrency"])
		return startPool(argv, env, workers, conc) // no concurrency=: the default
	case bench.GroupSpawn:
		return &spawn{argv: argv, env: env}, nil
	case bench.GroupRemote:
		return openRemote(sys, argv, env)
	case bench.GroupBare:
		return startFramed(argv, env, true)
	case bench.GroupHostCost:
		if kind == "bare" {
			return startFramed(argv, env, true)
		}
		return startProcess(argv, env)
	case bench.GroupLimit:
		return startFramed(argv, env, false)
	case bench.GroupCluster:
		return startCluster(sys, root) // cluster.go
	}
	return nil, fmt.Errorf("no Go driver for group %s", sys.Group)
}

// profiled wraps a child's argv in its language's profiler.
func profiled(argv []string, lang, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	switch lang {
	case "python":
		return append([]string{argv[0], "-m", "cProfile", "-o", filepath.Join(dir, "child.pstats")}, argv[1:]...), nil
	case "node":
		return append([]string{argv[0], "--cpu-prof", "--cpu-prof-dir=" + dir}, argv[1:]...), nil
	case "php":
		// Excimer (Debian: php-excimer) samples PHP functions; the prepended script writes
		// to $POLYFORK_EXCIMER_OUT, which profile.sh sets. Without it, perf sees only
		// the engine's C functions (execute_ex).
		if exec.Command(argv[0], "-d", "extension=excimer", "-r", "exit(class_exists('ExcimerProfiler') ? 0 : 1);").Run() == nil {
			prepend := filepath.Join(filepath.Dir(filepath.Dir(argv[1])), "profile", "excimer_prepend.php")
			return append([]string{argv[0], "-d", "extension=excimer", "-d", "auto_prepend_file=" + prepend}, argv[1:]...), nil
		}
		fallthrough
	case "c":
		return append([]string{"perf", "record", "-q", "-e", "cpu-clock", "-g", "-o", filepath.Join(dir, "child.perf.data"), "--"}, argv...), nil
	}
	return nil, fmt.Errorf("no profiler for %s children: %s", lang, strings.Join(argv, " "))
}
