package bridge

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// The test binary also plays the children the tests need (os/exec's helper-command
// pattern): started as "bridge.test -bridge-test-child MODE ARGS...", it runs helperChild
// instead of the tests.
const childFlag = "-bridge-test-child"

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == childFlag {
		helperChild(os.Args[2], os.Args[3:])
		os.Exit(0)
	}
	if len(os.Args) > 1 && os.Args[1] == "-bridge-test-host" {
		helperHost()
		return
	}
	startSpawner()
	// The spawner goroutine lives as long as the process, by design (sys_linux.go).
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/polyfork/polyfork/bridge.spawnLoop"))
}
