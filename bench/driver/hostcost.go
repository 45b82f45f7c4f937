package driver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/trace"
	"strings"
	"syscall"
	"time"

	xtrace "golang.org/x/exp/trace"

	"github.com/polyfork/polyfork/bench"
)

// measureHostCost measures what one call costs the host with one call in flight, at
// spec.Sizes[0] bytes: first sequential calls for spec.LatMs, with the host process's
// user+system CPU time (getrusage RUSAGE_SELF, every thread) read before and after; then
// hostCostTraced more sequential calls under runtime/trace, counting the goroutine
// wake-ups (a goroutine going from waiting to runnable) in the trace. Tracing slows calls
// down, which is why the CPU time is taken from calls that are not traced.
func measureHostCost(spec bench.Spec, ch channel) (bench.Trial, error) {
	t := bench.Trial{System: spec.System}
	if len(spec.Sizes) != 1 {
		return t, fmt.Errorf("%s: host cost takes one size, got %v", spec.System, spec.Sizes)
	}
	n := spec.Sizes[0]
	payload := strings.Repeat("x", n)
	if err := warmUp(spec, payload, ch.roundTrip); err != nil {
		return t, fmt.Errorf("%s, warming up: %w", spec.System, err)
	}
	pt := bench.PayloadTrial{Bytes: n}

	runtime.GC() // start both parts with the same clean heap
	cpu0, err := hostCPU()
	if err != nil {
		return t, err
	}
	deadline := time.Now().Add(ms(spec.LatMs))
	for pt.HostCalls < int64(spec.LatMin) || time.Now().Before(deadline) {
		for range 64 { // read the clock once every 64 calls
			if err := ch.roundTrip(payload); err != nil {
				return t, fmt.Errorf("%s: %w", spec.System, err)
			}
		}
		pt.HostCalls += 64
	}
	cpu1, err := hostCPU()
	if err != nil {
		return t, err
	}
	pt.HostCPUNs = int64(cpu1 - cpu0)

	runtime.GC()
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		return t, fmt.Errorf("starting the runtime trace: %w", err)
	}
	for range hostCostTraced {
		if err := ch.roundTrip(payload); err != nil {
			trace.Stop()
			return t, fmt.Errorf("%s, traced: %w", spec.System, err)
		}
	}
	trace.Stop()
	wakeups, err := countWakeups(&buf)
	if err != nil {
		return t, fmt.Errorf("%s: reading the runtime trace: %w", spec.System, err)
	}
	pt.TracedCalls, pt.Wakeups = hostCostTraced, wakeups
	t.Payloads = append(t.Payloads, pt)
	return t, nil
}

// hostCostTraced is how many calls run under the runtime trace.
const hostCostTraced = 2000

// hostCPU returns the user+system CPU time of this process so far.
func hostCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// countWakeups counts the goroutine wake-ups in a runtime trace: state transitions of a
// goroutine from waiting to runnable (what the scheduler does when a channel, a lock, the
// network poller or a timer readies a parked goroutine).
func countWakeups(r io.Reader) (int64, error) {
	tr, err := xtrace.NewReader(r)
	if err != nil {
		return 0, err
	}
	var n int64
	for {
		ev, err := tr.ReadEvent()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if ev.Kind() != xtrace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != xtrace.ResourceGoroutine {
			continue
		}
		if from, to := st.Goroutine(); from == xtrace.GoWaiting && to == xtrace.GoRunnable {
			n++
		}
	}
}
