package bench

import (
	"math"
	"sort"
)

// Percentile returns the p-th percentile (0 <= p <= 100) of xs, interpolating linearly
// between the two nearest ranks (numpy's default); NaN for no samples. xs is not changed.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return sortedPercentile(s, p)
}

func sortedPercentile(s []float64, p float64) float64 {
	if p <= 0 {
		return s[0]
	}
	if p >= 100 {
		return s[len(s)-1]
	}
	pos := p / 100 * float64(len(s)-1)
	lo := int(math.Floor(pos))
	if lo+1 >= len(s) {
		return s[lo]
	}
	frac := pos - float64(lo)
	return s[lo] + frac*(s[lo+1]-s[lo])
}

// Median returns the median of xs (the mean of the middle two for an even count); NaN for
// none.
func Median(xs []float64) float64 { return Percentile(xs, 50) }

// LatencyMicros returns p50 and p99 of round-trip durations given in nanoseconds, in
// microseconds.
func LatencyMicros(ns []int64) (p50, p99 float64) {
	s := make([]float64, len(ns))
	for i, v := range ns {
		s[i] = float64(v) / 1e3
	}
	if len(s) == 0 {
		return math.NaN(), math.NaN()
	}
	sort.Float64s(s)
	return sortedPercentile(s, 50), sortedPercentile(s, 99)
}
