package bench

import (
	"strings"
	"testing"
)

// fullRows returns rows for every catalog system at every size: polyfork close to its
// bare exchange and ahead of every peer, except at 1 MiB against the raw pipe.
func fullRows() []Row {
	var rows []Row
	for _, s := range Catalog {
		if !inSizeTables(s.Name) {
			continue // the mixed workload and host cost: tests add their own rows
		}
		for _, n := range Payloads {
			p50, tput := 20.0, 50000.0
			switch s.Group {
			case GroupPolyfork:
				p50, tput = 10, 200000
			case GroupBare:
				p50, tput = 9, 210000
			case GroupLimit:
				p50, tput = 4, 600000
			}
			if n == 1<<20 && s.Group == GroupPeer {
				p50, tput = 100, 10000 // polyfork 10x ahead at 1 MiB
			}
			rows = append(rows, Row{System: s.Name, PayloadBytes: n, P50us: p50, P99us: 2 * p50, CallsPerS: tput,
				CallsPerS2CPU: tput * 1.5, Pinning: "cpu1", Rounds: 10, P50Range: [2]float64{p50 - 1, p50 + 1}})
		}
	}
	return rows
}

func targetStatus(ts []Target) map[string]string {
	m := map[string]string{}
	for _, t := range ts {
		m[t.Name] = t.Status()
	}
	return m
}

func TestTargets(t *testing.T) {
	rows := fullRows()
	rows = append(rows,
		Row{System: MixedDefault, PayloadBytes: 16, P50us: 40, P99us: 900, CallsPerS: 3000, SlowP50us: 1_500_000, SlowP99us: 1_700_000},
		Row{System: MixedK1, PayloadBytes: 16, P50us: 60, P99us: 40000, CallsPerS: 2500, SlowP50us: 55_000, SlowP99us: 104_000},
		Row{System: HostCostPF, PayloadBytes: 16, WakeupsPerCall: 1.1, HostCPUusPerCall: 6},
		Row{System: HostCostBare, PayloadBytes: 16, WakeupsPerCall: 1, HostCPUusPerCall: 5})
	st := targetStatus(Targets(rows, []GoBench{{Name: "BenchmarkCallInMemory/16B", AllocsPerOp: 9, BytesPerOp: 700}}))
	want := map[string]string{
		"polyfork-<lang> p50 at 16 B within 1.15x of bare-<lang>":                                                                            "met",
		"polyfork-php calls/s at least 0.8x of bare-php at every size":                                                                       "met",
		"polyfork-node calls/s at least 0.8x of bare-node at every size":                                                                     "met",
		"default Pool of 2 workers at least 0.9x the calls/s of one pipelined child (polyfork-pool-python ÷ polyfork-python, both unpinned)": "not met",
		"mixed workload: p99 of the quick calls on the default Pool no worse than with Concurrency(1)":                                       "met",
		"host cost, one call in flight: at most 1.2 goroutine wake-ups per call, host CPU per call within 1.3x of the bare exchange":         "met",
		"polyfork-node faster than node-fork-json (p50 and calls/s, every size; 5x at 1 MiB)":                                                "met",
		"polyfork-python faster than python-ppe (p50 and calls/s, every size)":                                                               "met",
		"Go host allocates little per call (BenchmarkCallInMemory)":                                                                          "reported",
	}
	for name, s := range want {
		if st[name] != s {
			t.Errorf("%q: %q, want %q (all: %v)", name, st[name], s, st)
		}
	}

	// polyfork-python 1.3x its bare exchange at 16 B: that cell fails, php's still passes.
	rows = fullRows()
	Find(rows, "polyfork-python", 16).P50us = 9 * 1.3
	for _, tg := range Targets(rows, nil) {
		if strings.HasPrefix(tg.Name, "polyfork-<lang> p50") {
			if tg.Status() != "not met" || *tg.Cells[0].Met || tg.Cells[0].Value != "1.30x" || !*tg.Cells[1].Met {
				t.Errorf("cells %+v", tg.Cells)
			}
		}
	}

	// The pool at 0.95x of one child on 2 CPUs meets its goal; the mixed p99 above
	// Concurrency(1)'s, 2 wake-ups per call and 1.5x the bare CPU miss theirs.
	rows = fullRows()
	for _, n := range []int{16, 1 << 10} {
		Find(rows, DefaultPool, n).CallsPerS = Find(rows, "polyfork-python", n).CallsPerS2CPU * 0.95
	}
	rows = append(rows,
		Row{System: MixedDefault, PayloadBytes: 16, P99us: 900},
		Row{System: MixedK1, PayloadBytes: 16, P99us: 800},
		Row{System: HostCostPF, PayloadBytes: 16, WakeupsPerCall: 2, HostCPUusPerCall: 7.5},
		Row{System: HostCostBare, PayloadBytes: 16, WakeupsPerCall: 1, HostCPUusPerCall: 5})
	for _, tg := range Targets(rows, nil) {
		switch {
		case strings.HasPrefix(tg.Name, "default Pool"):
			if tg.Status() != "met" || tg.Cells[0].Value != "0.95x" {
				t.Errorf("pool: %s %+v", tg.Status(), tg.Cells)
			}
		case strings.HasPrefix(tg.Name, "mixed"), strings.HasPrefix(tg.Name, "host cost"):
			if tg.Status() != "not met" {
				t.Errorf("%s: %s %+v", tg.Name, tg.Status(), tg.Cells)
			}
		}
	}

	// Only 2x ahead of node-fork-json at 1 MiB: not the 5x asked.
	rows = fullRows()
	Find(rows, "node-fork-json", 1<<20).P50us = 20
	Find(rows, "node-fork-json", 1<<20).CallsPerS = 100000
	if s := targetStatus(Targets(rows, nil))["polyfork-node faster than node-fork-json (p50 and calls/s, every size; 5x at 1 MiB)"]; s != "not met" {
		t.Errorf("2x at 1 MiB: %s", s)
	}

	// Without bare exchanges, mixed workload and host cost, those goals have no data.
	var some []Row
	for _, r := range fullRows() {
		if s, _ := Lookup(r.System); s.Group != GroupBare {
			some = append(some, r)
		}
	}
	st = targetStatus(Targets(some, nil))
	for _, name := range []string{"polyfork-node calls/s at least 0.8x of bare-node at every size",
		"mixed workload: p99 of the quick calls on the default Pool no worse than with Concurrency(1)"} {
		if st[name] != "no data" {
			t.Errorf("%s: %s", name, st[name])
		}
	}
}

func testRun() Run {
	return Run{Kind: "full", Date: "2026-01-02T03:04:05Z", Rounds: 10, Spec: FullConfig().Spec, TwoCPU: true,
		Machine: Machine{CPU: "AMD EPYC", CPUs: 2, Kernel: "6.1", Versions: map[string]string{"go": "go1.26", "node": "v20"}},
		Rows:    fullRows(),
		GoBench: []GoBench{{Package: "github.com/polyfork/polyfork/bridge", Name: "BenchmarkCallInMemory/16B", NsPerOp: 2500, BytesPerOp: 700, AllocsPerOp: 9}}}
}

func TestMarkdown(t *testing.T) {
	r := testRun()
	md := Markdown(r, nil)
	for _, want := range []string{
		"# Benchmarks",
		"Run **full**, 2026-01-02 03:04:05 UTC, 10 measured rounds",
		"| CPU | AMD EPYC, 2 CPUs |",
		"| kernel | 6.1 |",
		"![p50 latency and throughput",
		"## Goals",
		"| polyfork-<lang> p50 at 16 B within 1.15x of bare-<lang> | python: 1.11x ✓; php: 1.11x ✓ | **met** |",
		"| polyfork-python calls/s at least 0.8x of bare-python at every size | 16 B: 0.95x ✓; 1 KiB: 0.95x ✓;",
		"### 64 KiB",
		"| **polyfork-python** | 10.0 | 20.0 | 200\u202f000 | 300\u202f000 | 2.50x | 33% | 9.0–11.0 |",
		"| raw-pipe | 4.0 | 8.0 | 600\u202f000 | 900\u202f000 | 1.00x | 100% | 3.0–5.0 |",
		"### polyfork-node\n\n| size | raw-pipe | raw-pipe-go | bare-node | node-fork-json |",
		"| 1 MiB | 2.50 / 0.33 | 2.50 / 0.33 | 1.11 / 0.95 | 0.10 / 20.00 |",
		"## Pools and a process per request",
		"| polyfork-pool-python | 16 B | 20.0 | 40.0 | 50\u202f000 | 300\u202f000 | 0.17x |",
		"| bare-python | 10.0 | 9.0 | 280\u202f000 | 210\u202f000 |",
		"| bridge | CallInMemory/16B | 2\u202f500 | - | 700 | 9 |",
		"## How it is measured",
		"| spawn-python | Go (bench/driver) |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if strings.Contains(md, "## Before and now") || strings.Contains(md, "**before**") {
		t.Error("no before run was given")
	}
	if strings.Contains(md, "NaN") {
		t.Error("NaN in the report")
	}
}

func TestMarkdownBefore(t *testing.T) {
	r := testRun()
	if md := Markdown(r, &r); !strings.Contains(md, "This run is the **before**") || strings.Contains(md, "## Before and now") {
		t.Error("a run that is its own before says so, with no comparison")
	}
	old := testRun()
	old.Date = "2025-12-01T00:00:00Z"
	Find(old.Rows, "polyfork-php", 16).P50us = 20
	md := Markdown(r, &old)
	if !strings.Contains(md, "## Before and now") || !strings.Contains(md, "| polyfork-php | 16 B | 20.0 | 10.0 | 0.50 |") {
		t.Errorf("before and now table missing or wrong:\n%s", md[strings.Index(md, "## Before"):])
	}

	// Systems that are not in the before run are listed as new, once each.
	var kept []Row
	for _, row := range old.Rows {
		if row.System != "polyfork-python-fd" {
			kept = append(kept, row)
		}
	}
	old.Rows = kept
	md = Markdown(r, &old)
	if strings.Count(md, "| polyfork-python-fd | *new* |") != 1 || strings.Contains(md, "| polyfork-python-fd | 16 B | 10.0 | 10.0 |") {
		t.Errorf("a new system is not marked new:\n%s", md[strings.Index(md, "## Before"):])
	}
}

func TestMarkdownMixedAndHostCost(t *testing.T) {
	r := testRun()
	r.Rows = append(r.Rows,
		Row{System: MixedDefault, PayloadBytes: 16, P50us: 40, P99us: 900, CallsPerS: 3000, SlowP50us: 1_500_000, SlowP99us: 1_700_000},
		Row{System: MixedK1, PayloadBytes: 16, P50us: 60, P99us: 40000, CallsPerS: 2500, SlowP50us: 55_000, SlowP99us: 104_000},
		Row{System: HostCostPF, PayloadBytes: 16, WakeupsPerCall: 0.75, HostCPUusPerCall: 6, Pinning: "cpu1"},
		Row{System: HostCostBare, PayloadBytes: 16, WakeupsPerCall: 1, HostCPUusPerCall: 5, Pinning: "cpu1"})
	SortRows(r.Rows)
	md := Markdown(r, nil)
	for _, want := range []string{
		"## In short",
		"## Mixed workload",
		"| polyfork-pool-python-mixed | default (adaptive window) | 40.0 | 900 | 1500 | 1700 | 3\u202f000 |",
		"| polyfork-pool-python-mixed-k1 | WithConcurrency(1) | 60.0 | 40\u202f000 | 55 | 104 | 2\u202f500 |",
		"## Host cost per call",
		"| hostcost-polyfork-python | 0.75 | 6.0 | 1.20 |",
		"| hostcost-bare-python | 1.00 | 5.0 | 1.00 |",
		"wake-ups/call: 0.75 (bare 1.00) ✓; host CPU/call: 6.0 µs vs 5.0 µs (1.20x) ✓ | **met** |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	// They stay out of the per-size tables.
	sizes := md[strings.Index(md, "## Results"):strings.Index(md, "## polyfork against")]
	if strings.Contains(sizes, "mixed") || strings.Contains(sizes, "hostcost") {
		t.Error("the per-size tables list the mixed workload or the host cost")
	}
}

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
goarch: amd64
pkg: github.com/polyfork/polyfork/protocol
cpu: AMD EPYC
BenchmarkEncodeRequest/16B-2         	 5123456	       233.5 ns/op	  68.52 MB/s	      48 B/op	       2 allocs/op
BenchmarkDecodeValue-2   	 1000000	      1043 ns/op	     512 B/op	      11 allocs/op
PASS
ok  	github.com/polyfork/polyfork/protocol	3.1s
pkg: github.com/polyfork/polyfork/bridge
BenchmarkCallInMemoryParallel-2   	  300000	      4100 ns/op	     900 B/op	      12 allocs/op
`
	gb := ParseGoBench(out)
	if len(gb) != 3 {
		t.Fatalf("parsed %+v", gb)
	}
	g := gb[0]
	if g.Package != "github.com/polyfork/polyfork/protocol" || g.Name != "BenchmarkEncodeRequest/16B" || g.Iterations != 5123456 ||
		g.NsPerOp != 233.5 || g.MBPerS != 68.52 || g.BytesPerOp != 48 || g.AllocsPerOp != 2 {
		t.Errorf("first line: %+v", g)
	}
	if gb[1].Name != "BenchmarkDecodeValue" || gb[1].MBPerS != 0 || gb[2].Package != "github.com/polyfork/polyfork/bridge" {
		t.Errorf("others: %+v", gb[1:])
	}
}

func TestMachineText(t *testing.T) {
	if got := CPUModel("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9B14\nflags\t: fpu\n"); got != "AMD EPYC 9B14" {
		t.Errorf("CPUModel: %q", got)
	}
	if got := OSName("NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"); got != "Debian GNU/Linux 12 (bookworm)" {
		t.Errorf("OSName: %q", got)
	}
}

func TestSizeLabel(t *testing.T) {
	for n, want := range map[int]string{16: "16 B", 1024: "1 KiB", 65536: "64 KiB", 1 << 20: "1 MiB", 1500: "1500 B"} {
		if got := SizeLabel(n); got != want {
			t.Errorf("SizeLabel(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestFailuresAreLeftOutAndReported(t *testing.T) {
	sys, _ := Lookup("polyfork-node")
	obs := []Observation{
		{Round: 1, System: sys, Mode: ModeLatency, Trial: trialOf("polyfork-node", 16, []int64{10}, 100)},
		{Round: 2, System: sys, Mode: ModeLatency, Err: "driver: a response for id 7, which is | not in flight"},
	}
	rows := Aggregate(obs)
	if len(rows) != 1 || rows[0].Rounds != 1 {
		t.Fatalf("the failed round must be left out: %+v", rows)
	}
	fs := Failures(obs)
	if len(fs) != 1 || fs[0].Round != 2 || fs[0].System != "polyfork-node" || fs[0].Mode != ModeLatency {
		t.Fatalf("failures %+v", fs)
	}
	r := testRun()
	r.Failures = fs
	md := Markdown(r, nil)
	for _, want := range []string{"**1 driver runs failed**", "## Failures", `| 2 | polyfork-node | latency | driver: a response for id 7, which is \| not in flight |`} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}
