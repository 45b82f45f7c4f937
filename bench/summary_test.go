package bench

import (
	"strings"
	"testing"
)

func TestSummary(t *testing.T) {
	rows := []Row{
		{System: "polyfork-python", PayloadBytes: 16, P50us: 12, P99us: 30.25, CallsPerS: 80000, Pinning: "cpu1"},
		{System: "bare-python", PayloadBytes: 16, P50us: 10, P99us: 20, CallsPerS: 100000, Pinning: "cpu1"},
		{System: "raw-pipe", PayloadBytes: 16, P50us: 4, P99us: 8, CallsPerS: 400000, Pinning: "cpu1"},
		{System: "polyfork-pool-python", PayloadBytes: 16, P50us: 50, P99us: 200, CallsPerS: 120000, Pinning: "none"},
		{System: "polyfork-php", PayloadBytes: 1 << 10, P50us: 15, CallsPerS: 50000, Pinning: "cpu1"}, // no bare-php, no raw at 1 KiB
	}
	got := Summary(rows)
	want := `system                 size  pinned  p50 µs  p99 µs  calls/s  p50 ÷ bare  calls/s ÷ bare  p50 ÷ raw  calls/s ÷ raw
polyfork-python        16 B    cpu1    12.0    30.2    80000       1.20x           0.80x      3.00x          0.20x
bare-python            16 B    cpu1    10.0    20.0   100000       1.00x           1.00x      2.50x          0.25x
raw-pipe               16 B    cpu1     4.0     8.0   400000           -               -      1.00x          1.00x
polyfork-pool-python   16 B      no    50.0   200.0   120000       5.00x           1.20x     12.50x          0.30x
polyfork-php          1 KiB    cpu1    15.0       -    50000           -               -          -              -
`
	if got != want {
		t.Errorf("summary:\n%s\nwant:\n%s", got, want)
	}
	if lines := strings.Split(strings.TrimSpace(got), "\n"); len(lines) != len(rows)+1 {
		t.Errorf("%d lines for %d rows", len(lines), len(rows))
	}
}
