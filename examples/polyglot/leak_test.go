package main

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks, once every test is done, that no goroutine of the example (its HTTP
// server, its children's readers and relays) outlived it. The bridge's spawner lives as
// long as the process, by design (bridge/sys_linux.go); idle keep-alive connections belong
// to the tests' HTTP client and are closed first.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		http.DefaultClient.CloseIdleConnections()
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/polyfork/polyfork/bridge.spawnLoop")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
