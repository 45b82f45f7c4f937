package bench

import (
	"encoding/json"
	"fmt"
)

// Trial is what one driver run prints on stdout, as one JSON object: the raw measurements
// of one system in one round, for each payload size.
type Trial struct {
	System   string         `json:"system"`
	Payloads []PayloadTrial `json:"payloads"`
}

// PayloadTrial holds the measurements of one payload size.
type PayloadTrial struct {
	Bytes int `json:"payload_bytes"`
	// LatNs holds one duration per sequential round trip, in nanoseconds.
	LatNs []int64 `json:"lat_ns,omitempty"`
	// TputCalls calls completed with Spec.Conc in flight, in TputNs nanoseconds.
	TputCalls int64 `json:"tput_calls,omitempty"`
	TputNs    int64 `json:"tput_ns,omitempty"`
	// SlowLatNs (the mixed workload only): the latency of each slow call, in nanoseconds.
	SlowLatNs []int64 `json:"slow_lat_ns,omitempty"`
	// The host-cost systems only: HostCPUNs of the host's CPU time (user+system) over
	// HostCalls sequential calls, and Wakeups goroutine wake-ups over TracedCalls calls
	// under runtime/trace.
	HostCalls   int64 `json:"host_calls,omitempty"`
	HostCPUNs   int64 `json:"host_cpu_ns,omitempty"`
	TracedCalls int64 `json:"traced_calls,omitempty"`
	Wakeups     int64 `json:"wakeups,omitempty"`
}

// ParseTrial decodes a driver's output and checks it against what was asked: the system's
// name, every size, latency samples and throughput where spec asks for them.
func ParseTrial(out []byte, spec Spec) (Trial, error) {
	var t Trial
	if err := json.Unmarshal(out, &t); err != nil {
		return t, fmt.Errorf("bench: the driver of %s printed no trial (%v): %q", spec.System, err, clip(out, 200))
	}
	if t.System != spec.System {
		return t, fmt.Errorf("bench: asked for %s, the driver measured %q", spec.System, t.System)
	}
	if len(t.Payloads) != len(spec.Sizes) {
		return t, fmt.Errorf("bench: %s: asked for %d sizes, got %d", spec.System, len(spec.Sizes), len(t.Payloads))
	}
	for i, p := range t.Payloads {
		switch {
		case p.Bytes != spec.Sizes[i]:
			return t, fmt.Errorf("bench: %s: size %d is %d bytes, want %d", spec.System, i, p.Bytes, spec.Sizes[i])
		case spec.Lat && len(p.LatNs) == 0:
			return t, fmt.Errorf("bench: %s: no latency samples at %d bytes", spec.System, p.Bytes)
		case spec.HostCost && (p.HostCalls <= 0 || p.HostCPUNs <= 0 || p.TracedCalls <= 0):
			return t, fmt.Errorf("bench: %s: no host cost at %d bytes (%d ns over %d calls, %d traced)", spec.System, p.Bytes, p.HostCPUNs, p.HostCalls, p.TracedCalls)
		case spec.Tput && (p.TputCalls <= 0 || p.TputNs <= 0):
			return t, fmt.Errorf("bench: %s: no throughput at %d bytes (%d calls in %d ns)", spec.System, p.Bytes, p.TputCalls, p.TputNs)
		}
		for _, ns := range p.LatNs {
			if ns <= 0 {
				return t, fmt.Errorf("bench: %s: a latency sample of %d ns at %d bytes", spec.System, ns, p.Bytes)
			}
		}
	}
	return t, nil
}

func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
