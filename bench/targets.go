package bench

import "fmt"

// Target is one of issue 5's targets, judged on a run's rows.
type Target struct {
	Name  string // what the issue asks
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

// Reference is what issue 5 measured with hand-written minimal programs on one CPU, at
// 16 B: the numbers its targets were set from.
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

func boolp(b bool) *bool { return &b }

// Targets judges issue 5's targets on rows (latency: p50; throughput: calls_per_s, the
// one-CPU number, as the issue measured) and reports the Go allocations per call from gb.
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

	for _, lang := range Languages {
		pf, bare := "polyfork-"+lang, "bare-"+lang
		lat := Target{Name: fmt.Sprintf("%s p50 within 1.25x of %s", pf, bare)}
		thr := Target{Name: fmt.Sprintf("%s calls/s at least 0.8x of %s", pf, bare)}
		for _, n := range sizes {
			a, b := Find(rows, pf, n), Find(rows, bare, n)
			c := Cell{Label: SizeLabel(n), Value: "-"}
			if x, ok := ratio(a, b, p50); ok {
				c.Value, c.Met = fmt.Sprintf("%.2fx", x), boolp(x <= 1.25)
			}
			lat.Cells = append(lat.Cells, c)
			c = Cell{Label: SizeLabel(n), Value: "-"}
			if x, ok := ratio(a, b, tput); ok {
				c.Value, c.Met = fmt.Sprintf("%.2fx", x), boolp(x >= 0.8)
			}
			thr.Cells = append(thr.Cells, c)
		}
		ts = append(ts, lat, thr)
	}

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

	big := Target{Name: "1 MiB at least as fast as raw-pipe (p50 and calls/s)"}
	raw := Find(rows, "raw-pipe", 1<<20)
	for _, lang := range Languages {
		a := Find(rows, "polyfork-"+lang, 1<<20)
		c := Cell{Label: lang, Value: "-"}
		lx, ok1 := ratio(a, raw, p50)
		tx, ok2 := ratio(a, raw, tput)
		if ok1 && ok2 {
			c.Value = fmt.Sprintf("p50 %.2fx, calls/s %.2fx of raw", lx, tx)
			c.Met = boolp(lx <= 1 && tx >= 1)
		}
		big.Cells = append(big.Cells, c)
	}
	ts = append(ts, big)

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
