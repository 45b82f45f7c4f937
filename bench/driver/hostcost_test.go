package driver

import (
	"bytes"
	"runtime/trace"
	"testing"
)

// A ping-pong over unbuffered channels wakes the other goroutine at every message, so the
// count is at least one per message.
func TestCountWakeups(t *testing.T) {
	if trace.IsEnabled() {
		t.Skip("a trace is already running")
	}
	const n = 500
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		ping <- i
		<-pong
	}
	trace.Stop()
	close(ping)
	got, err := countWakeups(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got < n {
		t.Errorf("%d wake-ups for %d round trips between two goroutines, want at least %d", got, n, n)
	}
	t.Logf("%d wake-ups for %d round trips", got, n)
}
