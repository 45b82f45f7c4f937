package main

import (
	"fmt"
	"net/http"
	"os"

	"go.uber.org/goleak"
)

// noLeakedGoroutines is run by TestMain after every test: the serve tests run serve in this
// process, so none of its goroutines (HTTP server, pool, workers' relays) may outlive it.
// The bridge's spawner lives as long as the process, by design (bridge/sys_linux.go); idle
// keep-alive connections belong to the tests' HTTP client and are closed first.
func noLeakedGoroutines() int {
	http.DefaultClient.CloseIdleConnections()
	if err := goleak.Find(goleak.IgnoreTopFunction("github.com/polyfork/polyfork/bridge.spawnLoop")); err != nil {
		fmt.Fprintln(os.Stderr, "goleak:", err)
		return 1
	}
	return 0
}
