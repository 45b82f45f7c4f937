package installtest

import (
	"testing"

	"go.uber.org/goleak"
)

// The install tests only run commands; goleak checks that nothing of theirs outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
