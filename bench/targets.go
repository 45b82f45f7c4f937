package bench

import "fmt"

// Target is one of polyfork's performance goals, judged on a run's rows.
type Target struct {
	Name  string // what the goal asks
	Cells []Cell // the evidence, one cell per size or per language
}

// Cell is one measured comparison of a target.
type Cell struct {
	Label string // the size or the language
	Value string // the measured ratio(s)
	Met   *bool  // nil when there is nothing to judge (a system was not measured)
}

// Status is "met" when every judged cell is met, "not met" when one is not, "no data"
// when none could be judged, "reported" for a target with nothing to judge by design.
func (t Target) Status() string {
	judged, met := 0, 0
	for _, c := range t.Cells {
		if c.Met != nil {
			judged++
			if *c.Met {
				met++
			}
		}
	}
	switch {
	case judged == 0 && len(t.Cells) > 0 && t.Cells[0].Label == "reported":
		return "reported"
	case judged == 0:
		return "no data"
	case met == judged:
		return "met"
	}
	return "not met"
}

// Reference is what hand-written minimal programs measured on one CPU at 16 B when the
// harness was first written: the numbers the first goals were set from.
var Reference = []struct {
	System    string
	P50us     float64
	CallsPerS float64
}{
	{"bare-python", 10, 280e3},
	{"bare-php", 9.4, 331e3},
	{"bare-node", 15, 172e3},
	{"raw-pipe", 5.2, 717e3},
	{"node-fork-json", 20, 144e3},
	{"python-mp-pipe", 19, 65e3},
	{"python-ppe", 87, 15e3},
}

// Languages of the polyfork clients, in report order.
var Languages = []string{"python", "php", "node"}

// The systems the pool, mixed-workload and host-cost goals are judged on.
const (
	DefaultPool   = "polyfork-pool-python"          // WithWorkers(2), default options
	MixedDefault  = "polyfork-pool-python-mixed"    // the mixed workload on the default pool
	MixedK1       = "polyfork-pool-python-mixed-k1" // ... with WithConcurrency(1)
	HostCostPF    = "hostcost-polyfork-python"      // host cost per call through polyfork
	HostCostBare  = "hostcost-bare-python"          // ... through the bare exchange
	MixedBytes    = 16                              // the size of the mixed workload's quick calls
	HostCostBytes = 16                              // the size of the host-cost calls
)

// The thresholds of the goals.
const (
	GoalP50VsBare      = 1.15 // polyfork p50 ÷ bare p50 at 16 B, at most
	GoalTputVsBare     = 0.8  // polyfork calls/s ÷ bare calls/s, at least
	GoalPoolVsOneChild = 0.9  // default pool calls/s ÷ one child's unpinned calls/s, at least
	GoalWakeupsPerCall = 1.2  // goroutine wake-ups per call, one in flight, at most
	GoalHostCPUVsBare  = 1.3  // host CPU per call ÷ the bare exchange's, at most
)

func boolp(b bool) *bool { return &b }

// Targets judges polyfork's goals on rows and reports the Go allocations per call from
// gb. Latency is p50 on one CPU; throughput is calls_per_s, on one CPU for the pinned
// systems, except the pool goal, which compares two unpinned numbers.
func Targets(rows []Row, gb []GoBench) []Target {
	var ts []Target
	sizes := Payloads
	ratio := func(a, b *Row, f func(*Row) float64) (float64, bool) {
		if a == nil || b == nil || f(a) <= 0 || f(b) <= 0 {
			return 0, false
		}
		return f(a) / f(b), true
	}
	p50 := func(r *Row) float64 { return r.P50us }
	tput := func(r *Row) float64 { return r.CallsPerS }

	lat := Target{Name: fmt.Sprintf("polyfork-<lang> p50 at 16 B within %gx of bare-<lang>", GoalP50VsBare)}
	for _, lang := range []string{"python", "php"} {
		c := Cell{Label: lang, Value: "-"}
		if x, ok := ratio(Find(rows, "polyfork-"+lang, 16), Find(rows, "bare-"+lang, 16), p50); ok {
			c.Value, c.Met = fmt.Sprintf("%.2fx", x), boolp(x <= GoalP50VsBare)
		}
		lat.Cells = append(lat.Cells, c)
	}
	ts = append(ts, lat)

	for _, lang := range Languages {
		pf, bare := "polyfork-"+lang, "bare-"+lang
		thr := Target{Name: fmt.Sprintf("%s calls/s at least %gx of %s at every size", pf, GoalTputVsBare, bare)}
		for _, n := range sizes {
			c := Cell{Label: SizeLabel(n), Value: "-"}
			if x, ok := ratio(Find(rows, pf, n), Find(rows, bare, n), tput); ok {
				c.Value, c.Met = fmt.Sprintf("%.2fx", x), boolp(x >= GoalTputVsBare)
			}
			thr.Cells = append(thr.Cells, c)
		}
		ts = append(ts, thr)
	}

	pool := Target{Name: fmt.Sprintf("default Pool of 2 workers at least %gx the calls/s of one pipelined child (%s ÷ polyfork-python, both unpinned)", GoalPoolVsOneChild, DefaultPool)}
	for _, n := range []int{16, 1 << 10} {
		c := Cell{Label: SizeLabel(n), Value: "-"}
		if x, ok := ratio(Find(rows, DefaultPool, n), Find(rows, "polyfork-python", n), func(r *Row) float64 {
			if r.System == DefaultPool {
				return r.CallsPerS // pools run unpinned only
			}
			return r.CallsPerS2CPU
		}); ok {
			c.Value, c.Met = fmt.Sprintf("%.2fx", x), boolp(x >= GoalPoolVsOneChild)
		}
		pool.Cells = append(pool.Cells, c)
	}
	ts = append(ts, pool)

	mixed := Target{Name: "mixed workload: p99 of the quick calls on the default Pool no worse than with Concurrency(1)"}
	{
		c := Cell{Label: "p99", Value: "-"}
		a, b := Find(rows, MixedDefault, MixedBytes), Find(rows, MixedK1, MixedBytes)
		if a != nil && b != nil && a.P99us > 0 && b.P99us > 0 {
			c.Value = fmt.Sprintf("%s µs vs %s µs (%.2fx)", fmtUs(a.P99us), fmtUs(b.P99us), a.P99us/b.P99us)
			c.Met = boolp(a.P99us <= b.P99us)
		}
		mixed.Cells = append(mixed.Cells, c)
	}
	ts = append(ts, mixed)

	host := Target{Name: fmt.Sprintf("host cost, one call in flight: at most %g goroutine wake-ups per call, host CPU per call within %gx of the bare exchange", GoalWakeupsPerCall, GoalHostCPUVsBare)}
	{
		pf, bare := Find(rows, HostCostPF, HostCostBytes), Find(rows, HostCostBare, HostCostBytes)
		c := Cell{Label: "wake-ups/call", Value: "-"}
		if pf != nil && pf.WakeupsPerCall > 0 {
			c.Value, c.Met = fmt.Sprintf("%.2f", pf.WakeupsPerCall), boolp(pf.WakeupsPerCall <= GoalWakeupsPerCall)
			if bare != nil && bare.WakeupsPerCall > 0 {
				c.Value += fmt.Sprintf(" (bare %.2f)", bare.WakeupsPerCall)
			}
		}
		host.Cells = append(host.Cells, c)
		c = Cell{Label: "host CPU/call", Value: "-"}
		if pf != nil && bare != nil && pf.HostCPUusPerCall > 0 && bare.HostCPUusPerCall > 0 {
			x := pf.HostCPUusPerCall / bare.HostCPUusPerCall
			c.Value = fmt.Sprintf("%.1f µs vs %.1f µs (%.2fx)", pf.HostCPUusPerCall, bare.HostCPUusPerCall, x)
			c.Met = boolp(x <= GoalHostCPUVsBare)
		}
		host.Cells = append(host.Cells, c)
	}
	ts = append(ts, host)

	beat := func(pf, peer string, bigFactor float64) Target {
		name := fmt.Sprintf("%s faster than %s (p50 and calls/s, every size", pf, peer)
		if bigFactor > 1 {
			name += fmt.Sprintf("; %gx at 1 MiB", bigFactor)
		}
		t := Target{Name: name + ")"}
		for _, n := range sizes {
			a, b := Find(rows, pf, n), Find(rows, peer, n)
			c := Cell{Label: SizeLabel(n), Value: "-"}
			lx, ok1 := ratio(b, a, p50)  // peer latency / polyfork latency: the speed-up
			tx, ok2 := ratio(a, b, tput) // polyfork calls/s / peer calls/s
			if ok1 && ok2 {
				need := 1.0
				if n == 1<<20 && bigFactor > 1 {
					need = bigFactor
				}
				c.Value = fmt.Sprintf("%.2fx / %.2fx", lx, tx)
				if need > 1 {
					c.Met = boolp(lx >= need && tx >= need)
				} else {
					c.Met = boolp(lx > 1 && tx > 1)
				}
			}
			t.Cells = append(t.Cells, c)
		}
		return t
	}
	ts = append(ts,
		beat("polyfork-node", "node-fork-json", 5),
		beat("polyfork-node", "node-fork-advanced", 5),
		beat("polyfork-python", "python-mp-pipe", 1),
		beat("polyfork-python", "python-ppe", 1))

	alloc := Target{Name: "Go host allocates little per call (BenchmarkCallInMemory)"}
	for _, g := range gb {
		if len(g.Name) > len("BenchmarkCallInMemory/") && g.Name[:len("BenchmarkCallInMemory/")] == "BenchmarkCallInMemory/" {
			alloc.Cells = append(alloc.Cells, Cell{Label: "reported",
				Value: fmt.Sprintf("%s: %d allocs, %d B", g.Name[len("BenchmarkCallInMemory/"):], g.AllocsPerOp, g.BytesPerOp)})
		}
	}
	if len(alloc.Cells) > 0 {
		ts = append(ts, alloc)
	}
	return ts
}

// SizeLabel writes a payload size the way the report does: 16 B, 1 KiB, 64 KiB, 1 MiB.
func SizeLabel(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
