// Command benchrun is polyfork's benchmark runner: it measures polyfork and its
// peers in one interleaved run and writes the results as JSON, and for a full run the
// report docs/benchmarks.md and its chart.
//
//	benchrun -quick                      # bench/out/quick.json, under a minute
//	benchrun -full                       # bench/out/full.json, docs/benchmarks.md, docs/benchmarks.png
//	benchrun -full -systems raw-pipe,polyfork-python -rounds 3 -docs ""
//	benchrun report [-run bench/out/full-run.json]   # rewrite the docs from a saved run
//	benchrun hostcost [-rounds 5]        # host cost per call, polyfork-python and bare-python, one CPU
//	benchrun drive KEY=VALUE...          # the Go driver of one trial (started by the runner)
//
// Run it from the repository's root (make bench, make bench-quick do).
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "drive":
			if err := drive(os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, "benchrun drive:", err)
				os.Exit(1)
			}
			return
		case "hostcost":
			if err := hostCostCmd(os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, "benchrun hostcost:", err)
				os.Exit(1)
			}
			return
		case "report":
			if err := reportCmd(os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, "benchrun report:", err)
				os.Exit(1)
			}
			return
		}
	}
	var o options
	flag.BoolVar(&o.quick, "quick", false, "the quick run: the eight systems of quick.json, 5 short rounds")
	flag.BoolVar(&o.full, "full", false, "the full run: every system, 10 rounds, throughput on 1 and 2 CPUs, Go micro-benchmarks, docs")
	flag.StringVar(&o.systems, "systems", "", "measure only these systems (comma-separated names)")
	flag.IntVar(&o.rounds, "rounds", 0, "measured rounds (default: 5 quick, 10 full)")
	flag.StringVar(&o.out, "out", "bench/out", "folder of the JSON results and the built helpers")
	flag.StringVar(&o.docs, "docs", "docs", "folder of benchmarks.md and benchmarks.png (full run; empty: write no docs)")
	flag.StringVar(&o.before, "before", "bench/results/before.json", "the saved \"before\" run the report compares with")
	flag.BoolVar(&o.saveBefore, "save-before", false, "also save this run as the \"before\" run")
	flag.StringVar(&o.plotPython, "plot-python", "python3", "the Python with matplotlib that draws the chart")
	flag.BoolVar(&o.noGoBench, "no-gobench", false, "skip the Go micro-benchmarks of the full run")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: benchrun -quick | -full [flags]   (run from the repository's root)")
		flag.PrintDefaults()
	}
	flag.Parse()
	if o.quick == o.full {
		flag.Usage()
		os.Exit(2)
	}
	if _, err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}
