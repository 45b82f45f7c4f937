package driver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/polyfork/polyfork/bench"
)

// The mixed workload: among the calls of spec.Conc callers, one in MixedSlowEvery sleeps
// MixedSlowMs in the worker; the others are quick echoes of spec.Sizes[0] bytes.
const (
	MixedSlowEvery = 100
	MixedSlowMs    = 50
	// mixedRunFactor: the workload runs for this many times spec.LatMs.
	mixedRunFactor = 4
)

// measureMixed runs the mixed workload on a pool: spec.Conc goroutines call for
// mixedRunFactor*spec.LatMs; the trial's latencies are those of the quick calls (under
// load, not sequential), its throughput every call that completed, slow ones included.
// The warm-up runs the same workload (for at least mixedWarmSlow slow calls' time), so that
// the trial measures a pool in its steady state, as every other system's warm-up does.
func measureMixed(spec bench.Spec, p *pool) (bench.Trial, error) {
	t := bench.Trial{System: spec.System}
	if len(spec.Sizes) != 1 {
		return t, fmt.Errorf("%s: the mixed workload takes one size, got %v", spec.System, spec.Sizes)
	}
	payload := strings.Repeat("x", spec.Sizes[0])
	warm := max(ms(spec.WarmMs), mixedWarmSlow*ms(MixedSlowMs))
	if _, err := runMixed(spec.Conc, payload, p, warm, 1); err != nil {
		return t, fmt.Errorf("%s, warming up: %w", spec.System, err)
	}
	pt, err := runMixed(spec.Conc, payload, p, ms(spec.LatMs*mixedRunFactor), 0)
	if err != nil {
		return t, fmt.Errorf("%s: %w", spec.System, err)
	}
	t.Payloads = append(t.Payloads, pt)
	return t, nil
}

// mixedWarmSlow: the mixed workload's warm-up lasts at least this many slow calls.
const mixedWarmSlow = 4

// runMixed runs the mixed workload with conc callers for d. Caller g draws its calls from
// a generator seeded with (g, seed): every system measured sees the same calls.
func runMixed(conc int, payload string, p *pool, d time.Duration, seed uint64) (bench.PayloadTrial, error) {
	lat := make([][]int64, conc)
	slow := make([][]int64, conc)
	calls := make([]int64, conc)
	errs := make([]error, conc)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 0x5eed+seed))
			for time.Now().Before(deadline) {
				if rng.IntN(MixedSlowEvery) == 0 {
					var out int
					a := time.Now()
					if err := p.p.Call(context.Background(), "sleep", []any{MixedSlowMs}, &out); err != nil {
						errs[g] = fmt.Errorf("a slow call: %w", err)
						return
					}
					slow[g] = append(slow[g], int64(time.Since(a)))
				} else {
					a := time.Now()
					if err := p.roundTrip(payload); err != nil {
						errs[g] = err
						return
					}
					lat[g] = append(lat[g], int64(time.Since(a)))
				}
				calls[g]++
			}
		}(g)
	}
	wg.Wait()
	pt := bench.PayloadTrial{Bytes: len(payload), TputNs: int64(time.Since(start))}
	for g := 0; g < conc; g++ {
		if errs[g] != nil {
			return pt, errs[g]
		}
		pt.LatNs = append(pt.LatNs, lat[g]...)
		pt.SlowLatNs = append(pt.SlowLatNs, slow[g]...)
		pt.TputCalls += calls[g]
	}
	return pt, nil
}
