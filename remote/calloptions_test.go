package remote

import (
	"testing"

	"github.com/polyfork/polyfork/bridge"
)

// The bridge keeps call options unexported; this pins the way they are read here.
func TestIdempotentIsRead(t *testing.T) {
	if idempotent(nil) || idempotent([]bridge.CallOption{nil}) {
		t.Fatal("no option read as Idempotent")
	}
	if !idempotent([]bridge.CallOption{nil, bridge.Idempotent()}) {
		t.Fatal("bridge.Idempotent() not recognised: the bridge's callOptions changed")
	}
}
