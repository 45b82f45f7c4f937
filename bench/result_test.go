package bench

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

// trialOf makes a trial of one size from latency samples in microseconds and a rate.
func trialOf(system string, bytes int, latUs []int64, calls int64) Trial {
	p := PayloadTrial{Bytes: bytes, TputCalls: calls, TputNs: 1e9}
	for _, us := range latUs {
		p.LatNs = append(p.LatNs, us*1000)
	}
	return Trial{System: system, Payloads: []PayloadTrial{p}}
}

func TestAggregateTakesMediansOfPerRoundValues(t *testing.T) {
	sys, _ := Lookup("raw-pipe")
	obs := []Observation{
		{Round: 0, System: sys, Mode: ModeLatency, Trial: trialOf("raw-pipe", 16, []int64{1000}, 1)}, // warm-up: ignored
		{Round: 1, System: sys, Mode: ModeLatency, Trial: trialOf("raw-pipe", 16, []int64{4, 5, 6}, 100)},
		{Round: 2, System: sys, Mode: ModeLatency, Trial: trialOf("raw-pipe", 16, []int64{10, 10, 10}, 300)},
		{Round: 3, System: sys, Mode: ModeLatency, Trial: trialOf("raw-pipe", 16, []int64{7, 8, 9}, 200)},
		{Round: 1, System: sys, Mode: ModeTwoCPU, Trial: Trial{System: "raw-pipe", Payloads: []PayloadTrial{{Bytes: 16, TputCalls: 50, TputNs: 1e8}}}},
	}
	rows := Aggregate(obs)
	if len(rows) != 1 {
		t.Fatalf("rows: %+v", rows)
	}
	r := rows[0]
	// per-round p50s 5, 10, 8 -> median 8; per-round rates 100, 300, 200 -> 200
	if r.P50us != 8 || r.CallsPerS != 200 || r.CallsPerS2CPU != 500 {
		t.Fatalf("p50 %v calls/s %v 2cpu %v; want 8, 200, 500", r.P50us, r.CallsPerS, r.CallsPerS2CPU)
	}
	if r.P50Range != [2]float64{5, 10} || r.Rounds != 3 || r.Samples != 9 || r.Pinning != "cpu1" {
		t.Fatalf("row %+v", r)
	}
}

func TestAggregateOrdersByCatalogThenSize(t *testing.T) {
	var obs []Observation
	for _, name := range []string{"raw-pipe", "polyfork-php", "polyfork-python"} {
		sys, _ := Lookup(name)
		for _, n := range []int{1 << 20, 16} {
			obs = append(obs, Observation{Round: 1, System: sys, Mode: ModeLatency, Trial: trialOf(name, n, []int64{1}, 1)})
		}
	}
	var got []string
	for _, r := range Aggregate(obs) {
		got = append(got, r.System+"/"+SizeLabel(r.PayloadBytes))
	}
	want := "polyfork-python/16 B polyfork-python/1 MiB polyfork-php/16 B polyfork-php/1 MiB raw-pipe/16 B raw-pipe/1 MiB"
	if strings.Join(got, " ") != want {
		t.Fatalf("order %v", got)
	}
}

func TestRowsJSONHasItsFields(t *testing.T) {
	b, err := MarshalRows([]Row{{System: "raw-pipe", PayloadBytes: 16, P50us: 4.4, P99us: 5, CallsPerS: 590000, Pinning: "cpu1"}})
	if err != nil {
		t.Fatal(err)
	}
	var arr []map[string]any
	if err := json.Unmarshal(b, &arr); err != nil || len(arr) != 1 {
		t.Fatalf("not a JSON array of one object: %s", b)
	}
	for _, k := range []string{"system", "payload_bytes", "p50_us", "p99_us", "calls_per_s"} {
		if _, ok := arr[0][k]; !ok {
			t.Errorf("field %q missing in %s", k, b)
		}
	}
	if arr[0]["system"] != "raw-pipe" || arr[0]["payload_bytes"] != 16.0 || arr[0]["calls_per_s"] != 590000.0 {
		t.Errorf("values: %v", arr[0])
	}
	if b, _ := MarshalRows(nil); strings.TrimSpace(string(b)) != "[]" {
		t.Errorf("no rows must still be an array: %s", b)
	}
}

func TestQuickSystems(t *testing.T) {
	var got []string
	for _, s := range QuickSystems() {
		got = append(got, s.Name)
	}
	sort.Strings(got)
	want := []string{"bare-node", "bare-php", "bare-python", "node-fork-advanced", "node-fork-json", "polyfork-node", "polyfork-php", "polyfork-pool-python", "polyfork-python", "python-mp-pipe", "python-ppe", "raw-pipe"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("quick systems %v, want %v", got, want)
	}
}

func TestCatalogIsConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Catalog {
		if seen[s.Name] {
			t.Errorf("%s listed twice", s.Name)
		}
		seen[s.Name] = true
		if s.About == "" || s.Group == "" || s.Driver == "" {
			t.Errorf("%s: group, driver and about are required", s.Name)
		}
		if (s.Group == GroupPool || s.Group == GroupSpawn) && s.Pinned {
			t.Errorf("%s: pools and process-per-request run unpinned", s.Name)
		}
	}
	for _, lang := range Languages {
		for _, prefix := range []string{"polyfork-", "bare-", "polyfork-pool-"} {
			if !seen[prefix+lang] {
				t.Errorf("no %s%s", prefix, lang)
			}
		}
	}
}

func TestAggregateHostCost(t *testing.T) {
	sys, _ := Lookup(HostCostPF)
	var obs []Observation
	for round, cpu := range []int64{0, 10000, 12000, 30000} { // round 0 is the warm-up
		obs = append(obs, Observation{Round: round, System: sys, Mode: ModeLatency, Trial: Trial{System: sys.Name,
			Payloads: []PayloadTrial{{Bytes: 16, HostCalls: 1000, HostCPUNs: cpu * 1000, TracedCalls: 2000, Wakeups: 2000 + int64(round)*200}}}})
	}
	rows := Aggregate(obs)
	if len(rows) != 1 || rows[0].HostCPUusPerCall != 12 || rows[0].WakeupsPerCall != 1.2 || rows[0].Rounds != 3 {
		t.Fatalf("rows %+v", rows)
	}
}
