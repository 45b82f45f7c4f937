package conformance

import (
	"fmt"
	"os"

	"go.uber.org/goleak"
)

// noLeakedGoroutines is run by TestMain after every test: no goroutine of the processes
// the tests started (their readers, writers and relays) may outlive them. The bridge's
// spawner lives as long as the process, by design (bridge/sys_linux.go).
func noLeakedGoroutines() int {
	if err := goleak.Find(goleak.IgnoreTopFunction("github.com/polyfork/polyfork/bridge.spawnLoop")); err != nil {
		fmt.Fprintln(os.Stderr, "goleak:", err)
		return 1
	}
	return 0
}
