// Command remote-sum is the seed's /get-sum with its compute workers on other machines: an
// HTTP host that calls Python workers through NATS, where polyfork agents serve them. Two
// commands, from the repository's root:
//
//	PYTHONPATH=clients/python/src go run ./cmd/polyfork agent -embed-nats -service sum -- \
//	    python3 examples/remote-sum/compute.py
//	go run ./examples/remote-sum                  # then: curl localhost:3000/get-sum
//
// The first starts a NATS server inside the agent (on 127.0.0.1:4222) and a worker per CPU;
// the second is the HTTP host. More workers on other machines: start the first with
// -embed-nats 0.0.0.0:4222, then on each machine
//
//	polyfork agent -nats nats://FIRST-HOST:4222 -service sum -- python3 compute.py
//
// and the host's calls spread over all of them. curl 'localhost:3000/get-sum?crash=1'
// makes the worker that takes it exit: that answer is an error, its agent replaces the
// worker, and the host keeps serving.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/remote"
)

// result is what a worker answers.
type result struct {
	Sum  int64  `msgpack:"sum"`
	Pid  int    `msgpack:"pid"`
	Host string `msgpack:"host"`
}

// host answers /get-sum by calling a remote worker: any bridge.Caller would do, a local
// bridge.Pool as well as a remote.Pool.
type host struct {
	workers bridge.Caller
	logs    io.Writer
}

func (h *host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/get-sum" {
		http.NotFound(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	crash := r.URL.Query().Has("crash")
	var opts []bridge.CallOption
	if !crash {
		opts = append(opts, bridge.Idempotent()) // a sum may be computed twice: retry elsewhere
	}
	var res result
	if err := h.workers.Call(ctx, "get_sum", []any{crash}, &res, opts...); err != nil {
		fmt.Fprintf(h.logs, "remote-sum: %v\n", err)
		code := http.StatusBadGateway
		if errors.Is(err, remote.ErrNoAgents) {
			code = http.StatusServiceUnavailable
		}
		http.Error(w, "error", code)
		return
	}
	w.Header().Set("X-Worker", fmt.Sprintf("%d@%s", res.Pid, res.Host))
	fmt.Fprintf(w, "sum is %d", res.Sum)
}

func main() {
	natsURL := flag.String("nats", "nats://127.0.0.1:4222", "the NATS server the agents use")
	service := flag.String("service", "sum", "the agents' service name")
	addr := flag.String("addr", "127.0.0.1:3000", "address to listen on")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	nc, err := nats.Connect(*natsURL, nats.Name("remote-sum"), nats.MaxReconnects(-1))
	if err != nil {
		log.Fatalf("remote-sum: %v (is an agent with -embed-nats running?)", err)
	}
	defer nc.Close()
	workers, err := remote.Dial(ctx, nc, *service)
	if err != nil {
		log.Fatalf("remote-sum: %v", err)
	}
	defer workers.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("remote-sum: %v", err)
	}
	srv := &http.Server{Handler: &host{workers: workers, logs: os.Stderr}}
	go srv.Serve(ln)
	fmt.Printf("remote-sum: listening on http://%s/get-sum, workers of %q on %s\n", ln.Addr(), *service, *natsURL)
	<-ctx.Done()

	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("remote-sum: %v", err)
	}
}
