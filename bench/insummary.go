package bench

import (
	"fmt"
	"strings"
)

// writeInShort writes the page's opening summary: a few sentences of this run's headline
// numbers, written to be quoted (the README's Performance section quotes it).
func writeInShort(w writer, rows []Row) {
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	for _, lang := range Languages {
		pf, bare := Find(rows, "polyfork-"+lang, 16), Find(rows, "bare-"+lang, 16)
		if pf == nil {
			continue
		}
		s := fmt.Sprintf("**%s child** (one CPU, 16 B): p50 %s µs, %s calls/s with 64 in flight", lang, fmtUs(pf.P50us), fmtRate(pf.CallsPerS))
		if bare != nil && bare.P50us > 0 && bare.CallsPerS > 0 {
			s += fmt.Sprintf("; a minimal hand-written exchange in the same language: %s µs, %s calls/s (polyfork %.2fx its p50, %.2fx its calls/s)",
				fmtUs(bare.P50us), fmtRate(bare.CallsPerS), pf.P50us/bare.P50us, pf.CallsPerS/bare.CallsPerS)
		}
		add("%s.", s)
	}
	peer := func(pf, other string) string {
		a, b := Find(rows, pf, 16), Find(rows, other, 16)
		if a == nil || b == nil || a.P50us <= 0 || a.CallsPerS <= 0 || b.P50us <= 0 || b.CallsPerS <= 0 {
			return ""
		}
		return fmt.Sprintf("%s %.1fx sooner and %.1fx the calls/s of %s", pf, b.P50us/a.P50us, a.CallsPerS/b.CallsPerS, other)
	}
	var peers []string
	for _, p := range [][2]string{{"polyfork-node", "node-fork-json"}, {"polyfork-node", "node-fork-advanced"}, {"polyfork-python", "python-mp-pipe"}, {"polyfork-python", "python-ppe"}} {
		if s := peer(p[0], p[1]); s != "" {
			peers = append(peers, s)
		}
	}
	if len(peers) > 0 {
		add("**Against what a user would pick instead**, at 16 B: %s.", strings.Join(peers, "; "))
	}
	if p, one := Find(rows, DefaultPool, 16), Find(rows, "polyfork-python", 16); p != nil && p.CallsPerS > 0 {
		s := fmt.Sprintf("**Default pool** of 2 Python workers (both CPUs, 16 B): %s calls/s", fmtRate(p.CallsPerS))
		if one != nil && one.CallsPerS2CPU > 0 {
			s += fmt.Sprintf(", %.2fx one pipelined child on both CPUs (%s calls/s)", p.CallsPerS/one.CallsPerS2CPU, fmtRate(one.CallsPerS2CPU))
		}
		add("%s.", s)
	}
	if a, b := Find(rows, MixedDefault, MixedBytes), Find(rows, MixedK1, MixedBytes); a != nil && b != nil {
		add("**Mixed workload** (2 workers, 64 callers, 1%% of calls sleep 50 ms): quick calls p50 %s µs / p99 %s µs on the default pool, %s µs / %s µs with `WithConcurrency(1)`.",
			fmtUs(a.P50us), fmtUs(a.P99us), fmtUs(b.P50us), fmtUs(b.P99us))
	}
	if a, b := Find(rows, HostCostPF, HostCostBytes), Find(rows, HostCostBare, HostCostBytes); a != nil && b != nil && b.HostCPUusPerCall > 0 {
		add("**Host cost** of one call in flight (one CPU): %.2f goroutine wake-ups and %.1f µs of host CPU per call (the minimal exchange: %.2f and %.1f µs).",
			a.WakeupsPerCall, a.HostCPUusPerCall, b.WakeupsPerCall, b.HostCPUusPerCall)
	}
	met, judged := 0, 0
	for _, t := range Targets(rows, nil) {
		switch t.Status() {
		case "met":
			met++
			judged++
		case "not met":
			judged++
		}
	}
	if judged > 0 {
		add("**Goals**: %d of %d met ([below](#goals)).", met, judged)
	}
	if len(lines) == 0 {
		return
	}
	w("## In short\n\n")
	for _, l := range lines {
		w("- %s\n", l)
	}
	w("\n")
}
