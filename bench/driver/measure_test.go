package driver

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/polyfork/polyfork/bench"
)

// fakeChannel answers at once and counts what it was asked.
type fakeChannel struct {
	trips   atomic.Int64
	sizes   []int
	failAt  int64 // fail the n-th round trip (0: never)
	corrupt bool  // answer with a wrong echo
}

func (f *fakeChannel) roundTrip(payload string) error {
	n := f.trips.Add(1)
	f.sizes = append(f.sizes, len(payload))
	if n == f.failAt {
		return errors.New("the child exited")
	}
	got := payload
	if f.corrupt {
		got = payload + "!"
	}
	return checkEcho(got, payload)
}

func (f *fakeChannel) throughput(payload string, d time.Duration, conc int) (int64, time.Duration, error) {
	return callers(conc, d, func() error { time.Sleep(100 * time.Microsecond); return nil })
}

func (f *fakeChannel) close() error { return nil }

func TestMeasureFollowsTheSpec(t *testing.T) {
	spec := bench.DefaultSpec("raw-pipe-go")
	spec.Sizes = []int{16, 1024}
	spec.WarmMs, spec.WarmMax = 1000, 7 // stops at 7 calls
	spec.LatMs, spec.LatMin, spec.LatMax = 1000, 10, 25
	spec.TputMs, spec.Conc = 20, 4
	f := &fakeChannel{}
	tr, err := measure(spec, f)
	if err != nil {
		t.Fatal(err)
	}
	if tr.System != "raw-pipe-go" || len(tr.Payloads) != 2 {
		t.Fatalf("trial %+v", tr)
	}
	for i, p := range tr.Payloads {
		if p.Bytes != spec.Sizes[i] || len(p.LatNs) != 25 {
			t.Errorf("size %d: %d bytes, %d samples; want %d, 25 (lat_max)", i, p.Bytes, len(p.LatNs), spec.Sizes[i])
		}
		if p.TputCalls < 4 || p.TputNs < int64(20*time.Millisecond) {
			t.Errorf("throughput %d calls in %d ns: want at least conc calls over tput_ms", p.TputCalls, p.TputNs)
		}
	}
	if got := f.trips.Load(); got != 2*(7+25) {
		t.Errorf("%d round trips, want 2 sizes x (7 warm-up + 25 timed)", got)
	}
	if f.sizes[0] != 16 || f.sizes[len(f.sizes)-1] != 1024 {
		t.Errorf("payload sizes sent: %v", f.sizes)
	}
}

func TestMeasureStopsOnTimeAfterTheMinimum(t *testing.T) {
	spec := bench.DefaultSpec("x")
	spec.Sizes = []int{16}
	spec.WarmMs, spec.WarmMax = 0, 100 // time is up at once: only the 3 warm-up calls that always run
	spec.LatMs, spec.LatMin, spec.LatMax = 0, 12, 1000
	spec.Tput = false
	f := &fakeChannel{}
	tr, err := measure(spec, f)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tr.Payloads[0].LatNs); n != 12 {
		t.Errorf("%d samples, want lat_min (12)", n)
	}
	if f.trips.Load() != 3+12 || tr.Payloads[0].TputCalls != 0 {
		t.Errorf("%d round trips, throughput %d", f.trips.Load(), tr.Payloads[0].TputCalls)
	}
}

func TestMeasureReportsWhereItFailed(t *testing.T) {
	spec := bench.DefaultSpec("polyfork-node")
	spec.Sizes = []int{16, 65536}
	spec.WarmMax, spec.LatMax = 3, 5
	_, err := measure(spec, &fakeChannel{failAt: 12}) // 3+5 at 16 B, 3 warm-up at 64 KiB, then the first timed call
	if err == nil || !strings.Contains(err.Error(), "polyfork-node at 65536 bytes: the child exited") {
		t.Errorf("error %v", err)
	}
	_, err = measure(spec, &fakeChannel{corrupt: true})
	if err == nil || !strings.Contains(err.Error(), "warming up at 16 bytes: wrong echo: sent 16 bytes, got 17") {
		t.Errorf("error %v", err)
	}
}

func TestCallersCountsEveryCompletedCall(t *testing.T) {
	var n atomic.Int64
	calls, took, err := callers(8, 10*time.Millisecond, func() error { n.Add(1); return nil })
	if err != nil || calls != n.Load() || took < 10*time.Millisecond {
		t.Fatalf("calls %d (made %d), took %v, err %v", calls, n.Load(), took, err)
	}
	_, _, err = callers(4, time.Second, func() error { return errors.New("boom") })
	if err == nil || err.Error() != "boom" {
		t.Fatalf("the first error must come back: %v", err)
	}
}
