package bench

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// The modes of a trial.
const (
	// ModeLatency measures sequential latency and, right after, throughput with Spec.Conc
	// in flight, pinned to one CPU when the system is Pinned.
	ModeLatency = "latency"
	// ModeTwoCPU measures throughput only, unpinned: both CPUs free to parent and child.
	ModeTwoCPU = "2cpu"
)

// Config is a whole run: which systems, how many rounds, how long each measurement lasts.
type Config struct {
	Name    string   // "quick" or "full"
	Systems []System // in catalog order
	Rounds  int      // measured rounds, after one warm-up round that is thrown away
	Spec    Spec     // the settings of each trial (System is filled per trial)
	TwoCPU  bool     // also measure unpinned throughput of the Pinned systems
	Seed    uint64   // of the per-round shuffle
}

// QuickConfig is `make bench-quick`: the twelve Quick systems (polyfork, its peers, the
// bare exchanges, raw-pipe and the default pool) at every payload size, 3 short rounds,
// pinned throughput only; under a minute on the 2-CPU machine.
func QuickConfig() Config {
	s := DefaultSpec("")
	return Config{Name: "quick", Systems: QuickSystems(), Rounds: 3, Spec: s, Seed: 1}
}

// FullConfig is `make bench`: every system, 10 rounds, longer measurements, and
// throughput both pinned and on two CPUs.
func FullConfig() Config {
	s := DefaultSpec("")
	s.WarmMs, s.WarmMax = 50, 1000
	s.LatMs, s.LatMin, s.LatMax = 250, 20, 20000
	s.TputMs = 200
	return Config{Name: "full", Systems: Catalog, Rounds: 10, Spec: s, TwoCPU: true, Seed: 1}
}

// Entry is one driver run of a schedule.
type Entry struct {
	Round  int // 0 is the warm-up round
	System System
	Mode   string
}

// Pinned reports whether the entry runs under taskset -c 1.
func (e Entry) Pinned() bool { return e.Mode == ModeLatency && e.System.Pinned }

// Spec returns the settings of this entry's driver run.
func (c Config) SpecFor(e Entry) Spec {
	s := c.Spec
	s.System = e.System.Name
	s.Sizes = append([]int(nil), c.Spec.Sizes...)
	if e.Mode == ModeTwoCPU {
		s.Lat = false
	}
	switch {
	case e.System.Group == GroupHostCost:
		s.Sizes, s.Lat, s.Tput, s.HostCost = []int{HostCostBytes}, false, false, true
		s.LatMin = 1000
	case e.System.Params["mix"] != "":
		s.Sizes = []int{MixedBytes}
	}
	if e.System.Slow {
		s.WarmMax, s.LatMin, s.Conc = 1, 3, 4
		s.LatMax = 50
	}
	if e.Round == 0 { // warm-up: touch every path once, cheaply
		s.WarmMs, s.LatMs, s.TputMs = 5, 5, 5
		s.LatMin = min(s.LatMin, 3)
	}
	return s
}

// Schedule returns every driver run of the config, round by round: a warm-up round, then
// c.Rounds rounds, each holding every (system, mode) once in an order shuffled anew, so
// that drift on the machine hits every system alike.
func (c Config) Schedule() []Entry {
	rng := rand.New(rand.NewPCG(c.Seed, 0x9e3779b97f4a7c15))
	var all []Entry
	for r := 0; r <= c.Rounds; r++ {
		var round []Entry
		for _, s := range c.Systems {
			round = append(round, Entry{Round: r, System: s, Mode: ModeLatency})
			if c.TwoCPU && s.Pinned && s.Group != GroupHostCost && r > 0 {
				round = append(round, Entry{Round: r, System: s, Mode: ModeTwoCPU})
			}
		}
		rng.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
		all = append(all, round...)
	}
	return all
}

// Select keeps the systems whose names are listed (comma-separated); an unknown name is
// an error that lists the known ones.
func (c Config) Select(names string) (Config, error) {
	if names == "" {
		return c, nil
	}
	var out []System
	for _, n := range strings.Split(names, ",") {
		s, ok := Lookup(strings.TrimSpace(n))
		if !ok {
			var known []string
			for _, k := range Catalog {
				known = append(known, k.Name)
			}
			return c, fmt.Errorf("bench: no system %q; the systems are %s", n, strings.Join(known, ", "))
		}
		out = append(out, s)
	}
	c.Systems = out
	return c, nil
}
