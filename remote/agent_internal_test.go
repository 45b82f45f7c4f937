package remote

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
)

// A flood of cancels (each naming a call the agent does not have) is remembered within
// bounds: bodies that cannot be reply subjects are ignored, and at most
// maxCancelsRemembered early cancels are kept, however many arrive within cancelMemory.
func TestEarlyCancelsAreRememberedWithinBounds(t *testing.T) {
	a := &Agent{running: map[string]context.CancelCauseFunc{}, cancelled: map[string]time.Time{}}
	a.onCancel(&nats.Msg{Data: make([]byte, 1<<20)})
	a.onCancel(&nats.Msg{})
	assert.Empty(t, a.cancelled, "a body that names no reply subject")
	for i := 0; i < 3*maxCancelsRemembered; i++ {
		a.onCancel(&nats.Msg{Data: []byte(fmt.Sprintf("_INBOX.x.%d", i))})
	}
	assert.Len(t, a.cancelled, maxCancelsRemembered)
	assert.Contains(t, a.cancelled, "_INBOX.x.0", "the first ones are kept")
}
