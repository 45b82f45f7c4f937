package main

import (
	"context"
	"log"

	"github.com/nats-io/nats.go"
	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/remote"
)

// Result is what examples/remote-sum/compute.py's get_sum returns.
type Result struct {
	Sum int64 `msgpack:"sum"`
	Pid int   `msgpack:"pid"`
}

// remoteSum is README.md's remote pool: it calls get_sum on the agents of service "sum"
// through the NATS server at url (nats://127.0.0.1:4222 for the README's agent).
// main_test.go runs it against an embedded server and an agent of compute.py.
func remoteSum(ctx context.Context, url string) (Result, error) {
	// readme:start remote
	nc, err := nats.Connect(url) // nats://127.0.0.1:4222
	if err != nil {
		log.Fatal(err)
	}
	workers, err := remote.Dial(ctx, nc, "sum", remote.OnMessage(func(v any) { log.Println(v) }))
	if err != nil {
		log.Fatal(err)
	}
	var res Result
	err = workers.Call(ctx, "get_sum", []any{}, &res, bridge.Idempotent()) // bridge.Caller, as a local pool
	// readme:end
	workers.Close()
	nc.Close()
	return res, err
}
