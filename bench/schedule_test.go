package bench

import (
	"strings"
	"testing"
)

func TestScheduleRunsEverySystemOncePerRoundShuffled(t *testing.T) {
	cfg := FullConfig()
	cfg.Rounds = 6
	entries := cfg.Schedule()
	perRound := map[int][]string{}
	for _, e := range entries {
		perRound[e.Round] = append(perRound[e.Round], e.System.Name+"/"+e.Mode)
	}
	if len(perRound) != 7 {
		t.Fatalf("want a warm-up round and 6 rounds, got %d", len(perRound))
	}
	pinned := 0
	twoCPU := func(s System) bool { return s.Pinned && s.Group != GroupHostCost } // host cost: one CPU only
	for _, s := range cfg.Systems {
		if twoCPU(s) {
			pinned++
		}
	}
	if n := len(perRound[0]); n != len(cfg.Systems) {
		t.Errorf("warm-up round: %d entries, want one per system (%d)", n, len(cfg.Systems))
	}
	orders := map[string]bool{}
	for r := 1; r <= 6; r++ {
		got := perRound[r]
		if len(got) != len(cfg.Systems)+pinned {
			t.Fatalf("round %d: %d entries, want %d", r, len(got), len(cfg.Systems)+pinned)
		}
		count := map[string]int{}
		for _, k := range got {
			count[k]++
		}
		for _, s := range cfg.Systems {
			if count[s.Name+"/"+ModeLatency] != 1 {
				t.Errorf("round %d: %s latency %d times", r, s.Name, count[s.Name+"/"+ModeLatency])
			}
			if want := map[bool]int{true: 1, false: 0}[twoCPU(s)]; count[s.Name+"/"+ModeTwoCPU] != want {
				t.Errorf("round %d: %s 2cpu %d times, want %d", r, s.Name, count[s.Name+"/"+ModeTwoCPU], want)
			}
		}
		orders[strings.Join(got, " ")] = true
	}
	if len(orders) < 5 {
		t.Errorf("the rounds are not shuffled: %d distinct orders of 6", len(orders))
	}
	if again := cfg.Schedule(); again[10].System.Name != entries[10].System.Name || again[10].Mode != entries[10].Mode {
		t.Error("the same seed must give the same schedule")
	}
}

func TestSpecFor(t *testing.T) {
	cfg := FullConfig()
	raw, _ := Lookup("raw-pipe")
	spawn, _ := Lookup("spawn-python")
	s := cfg.SpecFor(Entry{Round: 1, System: raw, Mode: ModeTwoCPU})
	if s.System != "raw-pipe" || s.Lat || !s.Tput || s.LatMs != cfg.Spec.LatMs {
		t.Errorf("2cpu spec %+v", s)
	}
	if !(Entry{Round: 1, System: raw, Mode: ModeLatency}).Pinned() || (Entry{Round: 1, System: raw, Mode: ModeTwoCPU}).Pinned() {
		t.Error("latency entries of pinned systems are pinned, 2cpu entries never")
	}
	if (Entry{Round: 1, System: spawn, Mode: ModeLatency}).Pinned() {
		t.Error("spawn-python runs unpinned")
	}
	s = cfg.SpecFor(Entry{Round: 1, System: spawn, Mode: ModeLatency})
	if s.Conc != 4 || s.LatMin != 3 || s.WarmMax != 1 {
		t.Errorf("slow spec %+v", s)
	}
	s = cfg.SpecFor(Entry{Round: 0, System: raw, Mode: ModeLatency})
	if s.LatMs != 5 || s.TputMs != 5 {
		t.Errorf("warm-up spec %+v", s)
	}
	s.Sizes[0] = 99
	if cfg.Spec.Sizes[0] == 99 {
		t.Error("SpecFor shares the config's sizes")
	}
}

func TestSelect(t *testing.T) {
	cfg, err := QuickConfig().Select("raw-pipe, polyfork-node")
	if err != nil || len(cfg.Systems) != 2 || cfg.Systems[1].Name != "polyfork-node" {
		t.Fatalf("%v %+v", err, cfg.Systems)
	}
	if _, err := QuickConfig().Select("raw-pipe,nope"); err == nil || !strings.Contains(err.Error(), `no system "nope"`) || !strings.Contains(err.Error(), "polyfork-python") {
		t.Fatalf("unknown system: %v", err)
	}
}

func TestSpecForMixedAndHostCost(t *testing.T) {
	cfg := FullConfig()
	for _, name := range []string{MixedDefault, HostCostPF} {
		sys, ok := Lookup(name)
		if !ok {
			t.Fatalf("%s is not in the catalog", name)
		}
		s := cfg.SpecFor(Entry{Round: 1, System: sys, Mode: ModeLatency})
		if len(s.Sizes) != 1 || s.Sizes[0] != 16 {
			t.Errorf("%s: sizes %v, want [16]", name, s.Sizes)
		}
		if hc := name == HostCostPF; s.HostCost != hc || s.Lat == hc || s.Tput == hc {
			t.Errorf("%s: lat %v tput %v hostcost %v", name, s.Lat, s.Tput, s.HostCost)
		}
	}
}
