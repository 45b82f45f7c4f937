package child

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/polyfork/polyfork/bridge"
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

// A zero Child (a struct field of type child.Child) works as one from New does: Serve
// panicked with "close of nil channel".
func TestAZeroChildServes(t *testing.T) {
	host, side := net.Pipe()
	defer host.Close()
	var c Child
	if err := c.Send(context.Background(), 1); err == nil || !strings.Contains(err.Error(), "not serving yet") {
		t.Fatalf("Send before Serve: %v", err)
	}
	c.Handle("echo", func(ctx context.Context, a bridge.Args) (any, error) { return a.Value(0) })
	served := make(chan error, 1)
	go func() { served <- c.Serve(side, side) }()
	fr := protocol.NewFrameReader(host)
	if _, err := fr.ReadFrame(); err != nil { // $ready
		t.Fatal(err)
	}
	enc := protocol.NewEncoder()
	f, _ := enc.Request(1, "echo", []any{"hi"})
	if _, err := host.Write(f); err != nil {
		t.Fatal(err)
	}
	body, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	m, err := protocol.DecodeMessage(body, 0)
	if err != nil || m.Kind != protocol.KindResponse || m.Error != nil {
		t.Fatalf("the answer: %+v, %v", m, err)
	}
	var got string
	if err := protocol.Unmarshal(m.Result, &got); err != nil || got != "hi" {
		t.Fatalf("the answer: %q, %v", got, err)
	}
	f, _ = enc.Notification(protocol.MethodStop, nil)
	if _, err := host.Write(f); err != nil {
		t.Fatal(err)
	}
	go func() { // take whatever the child writes
		for {
			if _, err := fr.ReadFrame(); err != nil {
				return
			}
		}
	}()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}
