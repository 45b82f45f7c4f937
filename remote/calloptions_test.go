package remote

import (
	"testing"

	"github.com/polyfork/polyfork/bridge"
)

// The bridge keeps call options unexported; this pins the way they are read here.
func TestCallOptionsAreRead(t *testing.T) {
	if co := readCallOptions([]bridge.CallOption{nil}); co.idempotent || co.worker != nil {
		t.Fatal("no option read as something")
	}
	var w bridge.Worker
	co := readCallOptions([]bridge.CallOption{nil, bridge.Idempotent(), bridge.ReportWorker(&w)})
	if !co.idempotent {
		t.Fatal("bridge.Idempotent() not recognised: the bridge's callOptions changed")
	}
	if co.worker != &w {
		t.Fatal("bridge.ReportWorker(&w) not recognised: the bridge's callOptions changed")
	}
}
