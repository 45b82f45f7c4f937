package child

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/polyfork/polyfork/protocol"
)

// SPEC 6: the messages the host sent before $stop (and after it) reach OnMessage before the
// child exits.
func TestStopDeliversTheMessagesAlreadyReceived(t *testing.T) {
	host, side := net.Pipe()
	defer host.Close()
	c := New()
	var got atomic.Int64
	c.OnMessage(func(v any) { time.Sleep(time.Millisecond); got.Add(1) })
	served := make(chan error, 1)
	go func() { served <- c.Serve(side, side) }()
	fr := protocol.NewFrameReader(host)
	if _, err := fr.ReadFrame(); err != nil { // $ready
		t.Fatal(err)
	}
	go func() { // take whatever the child writes
		for {
			if _, err := fr.ReadFrame(); err != nil {
				return
			}
		}
	}()
	enc := protocol.NewEncoder()
	const n = 50
	for i := 0; i < n; i++ {
		f, _ := enc.Notification(protocol.MethodMessage, []any{i})
		if _, err := host.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	f, _ := enc.Notification(protocol.MethodStop, nil)
	if _, err := host.Write(f); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if got.Load() != n {
		t.Errorf("the child handled %d of the %d messages the host sent before $stop", got.Load(), n)
	}
}
