package driver

import (
	"fmt"
	"strings"
	"time"

	"github.com/polyfork/polyfork/bench"
)

// channel is one system under measurement.
type channel interface {
	// roundTrip sends payload and waits for it to come back.
	roundTrip(payload string) error
	// throughput keeps conc calls in flight for d, waits for the rest, and returns how
	// many completed and how long that took.
	throughput(payload string, d time.Duration, conc int) (calls int64, took time.Duration, err error)
	close() error
}

// warmUp makes round trips of payload until spec.WarmMs has passed (at least 3) or
// spec.WarmMax were made.
func warmUp(spec bench.Spec, payload string, roundTrip func(string) error) error {
	start := time.Now()
	for i := 0; i < spec.WarmMax && (i < 3 || time.Since(start) < ms(spec.WarmMs)); i++ {
		if err := roundTrip(payload); err != nil {
			return err
		}
	}
	return nil
}

// measure runs spec over ch: for each size a warm-up, then the timed sequential round
// trips, then the throughput.
func measure(spec bench.Spec, ch channel) (bench.Trial, error) {
	t := bench.Trial{System: spec.System}
	for _, n := range spec.Sizes {
		payload := strings.Repeat("x", n)
		if err := warmUp(spec, payload, ch.roundTrip); err != nil {
			return t, fmt.Errorf("%s, warming up at %d bytes: %w", spec.System, n, err)
		}
		p := bench.PayloadTrial{Bytes: n}
		if spec.Lat {
			p.LatNs = make([]int64, 0, min(spec.LatMax, 1<<16))
			start := time.Now()
			for len(p.LatNs) < spec.LatMax && (len(p.LatNs) < spec.LatMin || time.Since(start) < ms(spec.LatMs)) {
				a := time.Now()
				if err := ch.roundTrip(payload); err != nil {
					return t, fmt.Errorf("%s at %d bytes: %w", spec.System, n, err)
				}
				p.LatNs = append(p.LatNs, int64(time.Since(a)))
			}
		}
		if spec.Tput {
			calls, took, err := ch.throughput(payload, ms(spec.TputMs), spec.Conc)
			if err != nil {
				return t, fmt.Errorf("%s, throughput at %d bytes: %w", spec.System, n, err)
			}
			p.TputCalls, p.TputNs = calls, int64(took)
		}
		t.Payloads = append(t.Payloads, p)
	}
	return t, nil
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// callers runs call from conc goroutines until d has passed, and returns how many calls
// completed and when the last one did.
func callers(conc int, d time.Duration, call func() error) (int64, time.Duration, error) {
	start := time.Now()
	deadline := start.Add(d)
	counts := make([]int64, conc)
	errs := make(chan error, conc)
	for g := 0; g < conc; g++ {
		go func(g int) {
			for time.Now().Before(deadline) {
				if err := call(); err != nil {
					errs <- err
					return
				}
				counts[g]++
			}
			errs <- nil
		}(g)
	}
	var first error
	for g := 0; g < conc; g++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	took := time.Since(start)
	var total int64
	for _, c := range counts {
		total += c
	}
	return total, took, first
}

// checkEcho reports a reply that is not the payload. It compares the length and the ends
// only, as every driver does, so that checking costs no time that grows with the size.
func checkEcho(got, want string) error {
	if len(got) != len(want) || (len(got) > 0 && (got[0] != want[0] || got[len(got)-1] != want[len(want)-1])) {
		return fmt.Errorf("wrong echo: sent %d bytes, got %d", len(want), len(got))
	}
	return nil
}
