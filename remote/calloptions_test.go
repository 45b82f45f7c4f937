package remote

import (
	"testing"

	"github.com/polyfork/polyfork/bridge"
)

// A remote call honours the bridge's call options, read with bridge.ReadCallOptions.
func TestCallOptionsAreRead(t *testing.T) {
	if co := readCallOptions([]bridge.CallOption{nil}); co.idempotent || co.worker != nil {
		t.Fatal("no option read as something")
	}
	var w bridge.Worker
	co := readCallOptions([]bridge.CallOption{nil, bridge.Idempotent(), bridge.ReportWorker(&w)})
	if !co.idempotent {
		t.Fatal("bridge.Idempotent() not recognised")
	}
	if co.worker != &w {
		t.Fatal("bridge.ReportWorker(&w) not recognised")
	}
}
