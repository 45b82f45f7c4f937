package driver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/polyfork/polyfork/bench"
)

// The remote group's systems start and echo every payload size, 1 MiB included (the
// driver's NATS server takes it as one message).
func TestRemoteSystemsEcho(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nats-reqrep", "nats-pool-python", "remote-python", "pool-python-1w"} {
		t.Run(name, func(t *testing.T) {
			sys, ok := bench.Lookup(name)
			if !ok {
				t.Fatalf("%s is not in the catalog", name)
			}
			argv, env, err := bench.ChildCommand(root, sys.Lang, "echo", os.Getenv)
			if err != nil {
				t.Fatal(err)
			}
			ch, err := openRemote(sys, argv, env)
			if err != nil {
				t.Fatal(err)
			}
			defer ch.close()
			for _, n := range bench.Payloads {
				if err := ch.roundTrip(strings.Repeat("x", n)); err != nil {
					t.Fatalf("%d bytes: %v", n, err)
				}
			}
			calls, _, err := ch.throughput("0123456789abcdef", 20*time.Millisecond, 4)
			if err != nil || calls == 0 {
				t.Fatalf("throughput: %d calls, %v", calls, err)
			}
		})
	}
}
