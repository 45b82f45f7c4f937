package main

import (
	"flag"
	"fmt"

	"github.com/polyfork/polyfork/bench"
)

// hostCostCmd is `benchrun hostcost`: the host-cost systems alone, pinned to one CPU, and
// a table of wake-ups and host CPU per call on stdout (bench/out/hostcost.json).
func hostCostCmd(args []string) error {
	fs := flag.NewFlagSet("hostcost", flag.ContinueOnError)
	o := options{full: true, systems: bench.HostCostPF + "," + bench.HostCostBare, docs: "", noGoBench: true}
	fs.IntVar(&o.rounds, "rounds", 5, "measured rounds")
	fs.StringVar(&o.out, "out", "bench/out", "folder of the JSON results and the built helpers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rows, err := run(o)
	if err != nil {
		return err
	}
	var bare float64
	if r := bench.Find(rows, bench.HostCostBare, bench.HostCostBytes); r != nil {
		bare = r.HostCPUusPerCall
	}
	fmt.Printf("\nhost cost of one call in flight, %d B, parent and child on CPU %s, median of %d rounds\n\n", bench.HostCostBytes, bench.PinnedCPU, o.rounds)
	fmt.Printf("%-26s %18s %22s %12s\n", "system", "wake-ups per call", "host CPU µs per call", "CPU ÷ bare")
	for _, r := range rows {
		ratio := "-"
		if bare > 0 {
			ratio = fmt.Sprintf("%.2fx", r.HostCPUusPerCall/bare)
		}
		fmt.Printf("%-26s %18.2f %22.1f %12s\n", r.System, r.WakeupsPerCall, r.HostCPUusPerCall, ratio)
	}
	return nil
}
