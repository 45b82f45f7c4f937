// Command readme is README.md's Go host, with the Python worker beside it (worker.py): it
// starts the worker, calls it, sends it a message, then does the same through a pool.
// README.md quotes the regions between "readme:start" and "readme:end" exactly, and
// main_test.go runs the program. From this directory:
//
//	PYTHONPATH=../../clients/python/src go run .
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/polyfork/polyfork/bridge"
)

func main() {
	ctx := context.Background()
	process(ctx)
	pool(ctx)
}

// process is README.md's "A Go host and a Python worker".
func process(ctx context.Context) {
	// readme:start process
	p, err := bridge.Start(ctx, []string{"python3", "worker.py"},
		bridge.OnMessage(func(v any) { fmt.Println("child says", v) }))
	if err != nil {
		log.Fatal(err) // *bridge.ExitError carries the child's last stderr lines
	}
	defer p.Close() // $stop, then SIGTERM, then SIGKILL to the child's process group

	var sum int64
	if err := p.Call(ctx, "add", []any{40, 2}, &sum); err != nil {
		var re *bridge.RemoteError
		if errors.As(err, &re) { // the worker raised: re.Type, re.Message, re.Traceback
			log.Fatalf("%s: %s", re.Type, re.Message)
		}
		log.Fatal(err)
	}
	fmt.Println(sum)                             // 42
	if err := p.Send(ctx, "start"); err != nil { // arrives in the child's on("message") handler
		log.Fatal(err)
	}
	// readme:end
}

// pool is README.md's "Pools".
func pool(ctx context.Context) {
	var sum int64
	// readme:start pool
	pool, err := bridge.NewPool(ctx, []string{"python3", "worker.py"},
		bridge.WithWorkers(4),                 // default: one per CPU
		bridge.WithExecTimeout(5*time.Second), // a stuck call ends only its worker
		bridge.WithMaxJobs(10000), bridge.WithMaxRSS(512<<20),
		bridge.WithLogger(slog.Default())) // worker started, exited, restarted...
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close() // drain: calls in flight finish first
	err = pool.Call(ctx, "add", []any{1, 2}, &sum, bridge.Idempotent())
	// readme:end
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("the pool says", sum)
}
