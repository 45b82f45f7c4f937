package protocol

import (
	"testing"

	"go.uber.org/goleak"
)

// The codec starts no goroutine; goleak checks that it stays so.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
