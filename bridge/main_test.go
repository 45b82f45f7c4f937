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
	// A -race binary sleeps a second at exit by default (GORACE atexit_sleep_ms): a child
	// playing a well-behaved peer would use half of the two seconds a child has to exit
	// after closing its channel (WithGracePeriods), and a loaded machine the rest. The
	// children inherit this; those started with WithCleanEnv do not.
	gorace := "atexit_sleep_ms=0"
	if v := os.Getenv("GORACE"); v != "" {
		gorace = v + " " + gorace
	}
	os.Setenv("GORACE", gorace)
	startSpawner()
	// The spawner goroutine lives as long as the process, by design (sys_linux.go).
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/polyfork/polyfork/bridge.spawnLoop"))
}
