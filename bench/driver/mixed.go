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
func measureMixed(spec bench.Spec, p *pool) (bench.Trial, error) {
	t := bench.Trial{System: spec.System}
	if len(spec.Sizes) != 1 {
		return t, fmt.Errorf("%s: the mixed workload takes one size, got %v", spec.System, spec.Sizes)
	}
	n := spec.Sizes[0]
	payload := strings.Repeat("x", n)
	if err := warmUp(spec, payload, p.roundTrip); err != nil {
		return t, fmt.Errorf("%s, warming up: %w", spec.System, err)
	}
	conc := spec.Conc
	lat := make([][]int64, conc)
	calls := make([]int64, conc)
	errs := make([]error, conc)
	start := time.Now()
	deadline := start.Add(ms(spec.LatMs * mixedRunFactor))
	var wg sync.WaitGroup
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 0x5eed))
			for time.Now().Before(deadline) {
				if rng.IntN(MixedSlowEvery) == 0 {
					var out int
					if err := p.p.Call(context.Background(), "sleep", []any{MixedSlowMs}, &out); err != nil {
						errs[g] = fmt.Errorf("a slow call: %w", err)
						return
					}
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
	took := time.Since(start)
	pt := bench.PayloadTrial{Bytes: n, TputNs: int64(took)}
	for g := 0; g < conc; g++ {
		if errs[g] != nil {
			return t, fmt.Errorf("%s: %w", spec.System, errs[g])
		}
		pt.LatNs = append(pt.LatNs, lat[g]...)
		pt.TputCalls += calls[g]
	}
	t.Payloads = append(t.Payloads, pt)
	return t, nil
}
