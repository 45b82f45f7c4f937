package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/bridge/child"
)

// worker is the command line of the worker the examples start. In a program it names an
// interpreter and a script, such as []string{"python3", "worker.py"} with the worker of
// README.md. Here the test binary plays that worker (helperchild_test.go), so the examples
// run without an interpreter; its handlers are "add", "echo", "fail", "sleep" and
// "call_host", and it sends back every message it receives.
var worker = []string{os.Args[0], "-bridge-test-child", "serve"}

// Start a worker, call one of its handlers, stop it.
func ExampleStart() {
	ctx := context.Background()
	p, err := bridge.Start(ctx, worker) // e.g. []string{"python3", "worker.py"}
	if err != nil {
		log.Fatal(err) // a *bridge.ExitError carries the worker's last stderr lines
	}
	defer p.Close() // $stop, then SIGTERM, then SIGKILL to the worker's process group

	var sum int64
	if err := p.Call(ctx, "add", []any{40, 2}, &sum); err != nil {
		log.Fatal(err)
	}
	fmt.Println(sum)
	// Output: 42
}

// A result fills a struct by its msgpack tags, else its json tags, else its field names,
// so the structs a program already has for JSON work as they are. A result that cannot
// fill the target is an error, never a struct of zeros.
func ExampleProcess_Call() {
	ctx := context.Background()
	p, err := bridge.Start(ctx, worker)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	// A Python handler returning {"mean": 2.5, "n": 4} answers the same as this "echo".
	type stats struct {
		Mean  float64 `json:"mean"`
		Count int     `json:"n"`
	}
	var s stats
	if err := p.Call(ctx, "echo", []any{map[string]any{"mean": 2.5, "n": 4}}, &s); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", s)
	// Output: {Mean:2.5 Count:4}
}

// A handler that raises reaches the caller as a *RemoteError with the exception's type,
// message and traceback.
func ExampleRemoteError() {
	ctx := context.Background()
	p, err := bridge.Start(ctx, worker)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	err = p.Call(ctx, "fail", []any{"price must be positive"}, nil) // raise ValueError(...) in Python
	var re *bridge.RemoteError
	if errors.As(err, &re) {
		fmt.Printf("%s: %s\n", re.Type, re.Message)
	}
	// Output: ValueError: price must be positive
}

// Send and OnMessage are Node's process.send and on('message'), both ways. This worker
// sends back what it receives.
func ExampleProcess_Send() {
	ctx := context.Background()
	messages := make(chan any, 1)
	p, err := bridge.Start(ctx, worker, bridge.OnMessage(func(v any) { messages <- v }))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	if err := p.Send(ctx, map[string]any{"hello": "world"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("child says", <-messages)
	// Output: child says map[hello:world]
}

// Calls go both ways: the host's handlers, given with WithHandler, are what the worker
// calls (polyfork.call("price", "tea") in Python).
func ExampleWithHandler() {
	ctx := context.Background()
	prices := map[string]float64{"tea": 3.5}
	p, err := bridge.Start(ctx, worker,
		bridge.WithHandler("price", func(ctx context.Context, a bridge.Args) (any, error) {
			var sku string
			if err := a.Decode(&sku); err != nil {
				return nil, err
			}
			price, ok := prices[sku]
			if !ok {
				return nil, bridge.NewError("KeyError", "no price for "+sku, nil)
			}
			return price, nil
		}))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	// The worker's "call_host" handler calls the host method it is given and returns its
	// answer.
	var price float64
	if err := p.Call(ctx, "call_host", []any{"price", []any{"tea"}}, &price); err != nil {
		log.Fatal(err)
	}
	fmt.Println(price)
	err = p.Call(ctx, "call_host", []any{"price", []any{"coffee"}}, &price)
	fmt.Println(err != nil)
	// Output:
	// 3.5
	// true
}

// A pool runs several workers from one command behind one Call, like Node's cluster.
func ExampleNewPool() {
	ctx := context.Background()
	pool, err := bridge.NewPool(ctx, worker,
		bridge.WithWorkers(2),                  // default: one per CPU
		bridge.WithExecTimeout(10*time.Second), // a stuck call ends only its worker
		bridge.WithMaxJobs(10000))              // then the worker is replaced
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close() // waits for the calls in flight

	var total atomic.Int64
	var wg sync.WaitGroup
	for i := 1; i <= 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sum int64
			// Idempotent: if the worker dies under this call, retry it once on another.
			if err := pool.Call(ctx, "add", []any{i, i}, &sum, bridge.Idempotent()); err != nil {
				log.Fatal(err)
			}
			total.Add(sum)
		}()
	}
	wg.Wait()
	fmt.Println(total.Load(), "from", len(pool.Stats().Workers), "workers")
	// Output: 110 from 2 workers
}

// Shutdown asks the worker to stop ($stop): the calls in flight get their answers, then
// the worker exits. Past the grace periods it is sent SIGTERM, then SIGKILL; when ctx
// ends, SIGKILL at once.
func ExampleProcess_Shutdown() {
	ctx := context.Background()
	p, err := bridge.Start(ctx, worker, bridge.WithGracePeriods(5*time.Second, 2*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	answer := make(chan string, 1)
	go func() {
		var s string
		if err := p.Call(ctx, "sleep", []any{100}, &s); err != nil {
			s = err.Error()
		}
		answer <- s
	}()
	for p.InFlight() == 0 { // only so that the call is on its way before the stop
		time.Sleep(time.Millisecond)
	}

	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = p.Shutdown(stopCtx) // nil: the worker exited with status 0
	fmt.Println("call answered:", <-answer)
	fmt.Println("shutdown:", err, "exit code:", p.ExitCode())
	// Output:
	// call answered: slept
	// shutdown: <nil> exit code: 0
}

// WithLogger tells what happens to children and pools, as log/slog records. (This
// handler leaves out the time and the pid so that the output is always the same.)
func ExampleWithLogger() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "pid" {
				return slog.Attr{}
			}
			return a
		}}))
	p, err := bridge.Start(context.Background(), worker, bridge.WithName("worker"), bridge.WithLogger(logger))
	if err != nil {
		log.Fatal(err)
	}
	p.Close()
	// Output:
	// level=INFO msg="polyfork: child started" child=worker lang=go-test lib=helperchild
	// level=INFO msg="polyfork: child exited" child=worker status=0
}

// A Conn is one session over any byte stream. Here both sides are Go, over an in-memory
// pipe: package bridge/child serves the child's side, as it does over a child process's
// stdin and stdout; the host reads the $ready handshake, then opens its Conn.
func ExampleNewConn() {
	hostSide, childSide := net.Pipe()

	greeter := child.New()
	greeter.Handle("greet", func(ctx context.Context, a bridge.Args) (any, error) {
		var name string
		if err := a.Decode(&name); err != nil {
			return nil, err
		}
		return "hello, " + name, nil
	})
	served := make(chan error, 1)
	go func() { served <- greeter.Serve(childSide, childSide) }()

	info, err := bridge.ReadReady(hostSide, 0)
	if err != nil {
		log.Fatal(err)
	}
	conn, err := bridge.NewConn(hostSide, hostSide)
	if err != nil {
		log.Fatal(err)
	}
	var greeting string
	if err := conn.Call(context.Background(), "greet", []any{"Ada"}, &greeting); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s child: %s\n", info.Lang, greeting)

	conn.Close() // the child's side sees the end of the stream and returns
	fmt.Println("served:", <-served)
	// Output:
	// go child: hello, Ada
	// served: <nil>
}
