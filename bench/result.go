package bench

import (
	"encoding/json"
	"math"
	"sort"
)

// Row is one line of bench/out/quick.json and full.json: one system at one payload size,
// each number the median over the measured rounds of that round's value.
type Row struct {
	System       string `json:"system"`
	PayloadBytes int    `json:"payload_bytes"`
	// P50us and P99us: sequential round-trip latency in microseconds.
	P50us float64 `json:"p50_us"`
	P99us float64 `json:"p99_us"`
	// CallsPerS: throughput with many calls in flight, measured right after the latency,
	// with the same pinning.
	CallsPerS float64 `json:"calls_per_s"`
	// CallsPerS2CPU: throughput unpinned, both CPUs free (full runs, pinned systems).
	CallsPerS2CPU float64 `json:"calls_per_s_2cpu,omitempty"`
	// Pinning says where latency and calls_per_s ran: "cpu1" (parent and child on CPU 1,
	// taskset -c 1) or "none".
	Pinning string `json:"pinning"`
	Rounds  int    `json:"rounds"`
	Samples int    `json:"samples"` // latency samples, all rounds together
	// P50Range is the lowest and highest per-round p50: how much the rounds disagreed.
	P50Range [2]float64 `json:"p50_us_range"`
	// WakeupsPerCall and HostCPUusPerCall: the host's cost of one call with one in flight
	// (the host-cost systems only): goroutine wake-ups counted from a runtime trace, and
	// the host process's user+system CPU time (getrusage) per call, in microseconds.
	WakeupsPerCall   float64 `json:"wakeups_per_call,omitempty"`
	HostCPUusPerCall float64 `json:"host_cpu_us_per_call,omitempty"`
	// SlowP50us and SlowP99us (the mixed workload only): latency of the slow calls, from
	// the call to its answer (waiting for a worker included), in microseconds.
	SlowP50us float64 `json:"slow_p50_us,omitempty"`
	SlowP99us float64 `json:"slow_p99_us,omitempty"`
}

// Observation is the outcome of one driver run: its trial, or the error it failed with.
type Observation struct {
	Round  int
	System System
	Mode   string
	Trial  Trial
	Err    string
}

// Failure is a driver run that failed; the run goes on without it and reports it.
type Failure struct {
	Round  int    `json:"round"`
	System string `json:"system"`
	Mode   string `json:"mode"`
	Error  string `json:"error"`
}

// Failures lists the failed observations.
func Failures(obs []Observation) []Failure {
	var fs []Failure
	for _, o := range obs {
		if o.Err != "" {
			fs = append(fs, Failure{Round: o.Round, System: o.System.Name, Mode: o.Mode, Error: o.Err})
		}
	}
	return fs
}

// Aggregate turns the observations of a run into rows, one per system and size, in
// catalog order (systems not in the catalog last, by name) and by size. Observations of
// round 0 (the warm-up) and failed ones are ignored. Each per-round value (p50, p99, calls/s) is computed
// from that round's samples alone; the row holds the median of those values.
func Aggregate(obs []Observation) []Row {
	type key struct {
		system string
		bytes  int
	}
	type acc struct {
		sys                   System
		p50, p99, tput, tput2 []float64
		cpu, wake             []float64 // host cost per call
		sp50, sp99            []float64 // the mixed workload's slow calls
		samples               int
	}
	accs := map[key]*acc{}
	for _, o := range obs {
		if o.Round == 0 || o.Err != "" {
			continue
		}
		for _, p := range o.Trial.Payloads {
			k := key{o.System.Name, p.Bytes}
			a := accs[k]
			if a == nil {
				a = &acc{sys: o.System}
				accs[k] = a
			}
			var tput float64
			if p.TputNs > 0 {
				tput = float64(p.TputCalls) / (float64(p.TputNs) / 1e9)
			}
			switch o.Mode {
			case ModeTwoCPU:
				if tput > 0 {
					a.tput2 = append(a.tput2, tput)
				}
			default:
				if len(p.LatNs) > 0 {
					p50, p99 := LatencyMicros(p.LatNs)
					a.p50 = append(a.p50, p50)
					a.p99 = append(a.p99, p99)
					a.samples += len(p.LatNs)
				}
				if len(p.SlowLatNs) > 0 {
					p50, p99 := LatencyMicros(p.SlowLatNs)
					a.sp50 = append(a.sp50, p50)
					a.sp99 = append(a.sp99, p99)
				}
				if tput > 0 {
					a.tput = append(a.tput, tput)
				}
				if p.HostCalls > 0 && p.TracedCalls > 0 {
					a.cpu = append(a.cpu, float64(p.HostCPUNs)/float64(p.HostCalls)/1e3)
					a.wake = append(a.wake, float64(p.Wakeups)/float64(p.TracedCalls))
				}
			}
		}
	}
	rows := make([]Row, 0, len(accs))
	for k, a := range accs {
		r := Row{System: k.system, PayloadBytes: k.bytes, Pinning: "none",
			P50us: round3(Median(a.p50)), P99us: round3(Median(a.p99)), CallsPerS: round3(Median(a.tput)),
			Rounds: max(len(a.p50), len(a.tput), len(a.cpu)), Samples: a.samples}
		if len(a.sp50) > 0 {
			r.SlowP50us, r.SlowP99us = round3(Median(a.sp50)), round3(Median(a.sp99))
		}
		if len(a.cpu) > 0 {
			r.HostCPUusPerCall, r.WakeupsPerCall = round3(Median(a.cpu)), round3(Median(a.wake))
		}
		if a.sys.Pinned {
			r.Pinning = "cpu1"
		}
		if len(a.tput2) > 0 {
			r.CallsPerS2CPU = round3(Median(a.tput2))
		}
		if len(a.p50) > 0 {
			r.P50Range = [2]float64{round3(Percentile(a.p50, 0)), round3(Percentile(a.p50, 100))}
		}
		rows = append(rows, zeroNaN(r))
	}
	SortRows(rows)
	return rows
}

// SortRows orders rows by the catalog's order of systems, then by size.
func SortRows(rows []Row) {
	order := map[string]int{}
	for i, s := range Catalog {
		order[s.Name] = i
	}
	rank := func(name string) int {
		if i, ok := order[name]; ok {
			return i
		}
		return len(Catalog)
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if ra, rb := rank(a.System), rank(b.System); ra != rb {
			return ra < rb
		}
		if a.System != b.System {
			return a.System < b.System
		}
		return a.PayloadBytes < b.PayloadBytes
	})
}

// zeroNaN replaces NaN (nothing measured) by 0, which JSON can hold.
func zeroNaN(r Row) Row {
	for _, f := range []*float64{&r.P50us, &r.P99us, &r.CallsPerS, &r.CallsPerS2CPU, &r.P50Range[0], &r.P50Range[1]} {
		if math.IsNaN(*f) {
			*f = 0
		}
	}
	return r
}

func round3(f float64) float64 {
	if math.IsNaN(f) {
		return f
	}
	return math.Round(f*1000) / 1000
}

// MarshalRows renders rows as the JSON array of quick.json / full.json, indented, one
// object per row.
func MarshalRows(rows []Row) ([]byte, error) {
	if rows == nil {
		rows = []Row{}
	}
	b, err := json.MarshalIndent(rows, "", "  ")
	return append(b, '\n'), err
}

// Find returns the row of system at bytes, or nil.
func Find(rows []Row, system string, bytes int) *Row {
	for i := range rows {
		if rows[i].System == system && rows[i].PayloadBytes == bytes {
			return &rows[i]
		}
	}
	return nil
}
