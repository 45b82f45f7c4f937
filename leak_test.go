package polyfork_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks, once every test is done, that no goroutine outlived them (the version
// tests start children through bridge and bridge/child). The bridge's spawner lives as
// long as the process, by design (bridge/sys_linux.go).
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/polyfork/polyfork/bridge.spawnLoop")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
