package bench

import (
	"math"
	"testing"
)

func TestPercentileInterpolatesLikeNumpy(t *testing.T) {
	xs := []float64{15, 20, 35, 40, 50} // numpy.percentile(xs, p), linear
	cases := []struct{ p, want float64 }{
		{0, 15}, {25, 20}, {40, 29}, {50, 35}, {99, 49.6}, {100, 50},
	}
	for _, c := range cases {
		if got := Percentile(xs, c.p); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("Percentile(%v, %v) = %v, want %v", xs, c.p, got, c.want)
		}
	}
}

func TestPercentileDoesNotReorderItsInput(t *testing.T) {
	xs := []float64{3, 1, 2}
	Percentile(xs, 50)
	if xs[0] != 3 || xs[1] != 1 || xs[2] != 2 {
		t.Fatalf("input reordered: %v", xs)
	}
}

func TestMedian(t *testing.T) {
	if got := Median([]float64{5, 1, 3}); got != 3 {
		t.Errorf("odd count: %v", got)
	}
	if got := Median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("even count: %v, want the mean of the middle two", got)
	}
	if got := Median([]float64{7}); got != 7 {
		t.Errorf("one sample: %v", got)
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("no samples must give NaN")
	}
}

func TestLatencyMicros(t *testing.T) {
	ns := make([]int64, 100)
	for i := range ns {
		ns[i] = int64(100-i) * 1000 // 100 us down to 1 us
	}
	p50, p99 := LatencyMicros(ns)
	if math.Abs(p50-50.5) > 1e-9 || math.Abs(p99-99.01) > 1e-9 {
		t.Fatalf("p50, p99 = %v, %v; want 50.5, 99.01", p50, p99)
	}
	if a, b := LatencyMicros(nil); !math.IsNaN(a) || !math.IsNaN(b) {
		t.Fatal("no samples must give NaN")
	}
}
