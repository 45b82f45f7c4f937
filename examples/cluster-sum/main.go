// Command cluster-sum is the seed's process-cluster.js done with a polyfork pool: one
// worker per CPU, in Python, PHP or Node, behind an HTTP server; a worker that exits (try
// kill -9 on one) is replaced at once while the others keep answering.
//
//	go run ./examples/cluster-sum -lang python     # or php, node
//	curl localhost:3000/                            # done by python worker 1234: sum is 4999950000
//	curl localhost:3000/workers                     # pids, jobs, restarts
//	kill -9 <a worker pid>; curl localhost:3000/    # still answers
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/polyfork/polyfork/bridge"
)

func here() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// command returns the worker command for lang, and the environment it needs.
func command(lang string) ([]string, []string, error) {
	dir := here()
	root := filepath.Join(dir, "..", "..")
	switch lang {
	case "python":
		return []string{env("POLYFORK_PYTHON", "python3"), filepath.Join(dir, "worker.py")},
			[]string{"PYTHONPATH=" + filepath.Join(root, "clients", "python", "src")}, nil
	case "php":
		return []string{env("POLYFORK_PHP", "php"), filepath.Join(dir, "worker.php")}, nil, nil
	case "node":
		return []string{env("POLYFORK_NODE", "node"), filepath.Join(dir, "worker.js")}, nil, nil
	}
	return nil, nil, fmt.Errorf("unknown -lang %q: want python, php or node", lang)
}

// result is what a worker answers.
type result struct {
	Pid  int    `msgpack:"pid"`
	Lang string `msgpack:"lang"`
	Sum  int64  `msgpack:"sum"`
}

// newCluster starts the pool and returns the HTTP handler in front of it.
func newCluster(ctx context.Context, lang string, workers int, logs io.Writer) (*bridge.Pool, http.Handler, error) {
	argv, envv, err := command(lang)
	if err != nil {
		return nil, nil, err
	}
	pool, err := bridge.NewPool(ctx, argv,
		bridge.WithWorkers(workers),
		bridge.WithExecTimeout(10*time.Second),
		bridge.WithEnv(envv...), bridge.WithStderr(logs))
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /workers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(pool.Stats())
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		var res result
		// Computing a sum twice is harmless: let the pool retry on another worker if this
		// one dies under the call.
		err := pool.Call(r.Context(), "handle_request", []any{r.URL.Path}, &res, bridge.Idempotent())
		if err != nil {
			fmt.Fprintf(logs, "cluster-sum: %v\n", err)
			http.Error(w, "error", http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "done by %s worker %d: sum is %d\n", res.Lang, res.Pid, res.Sum)
	})
	return pool, mux, nil
}

func main() {
	lang := flag.String("lang", "python", "language of the workers: python, php or node")
	workers := flag.Int("workers", runtime.NumCPU(), "number of workers")
	addr := flag.String("addr", "127.0.0.1:3000", "address to listen on")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pool, handler, err := newCluster(ctx, *lang, *workers, os.Stderr)
	if err != nil {
		log.Fatalf("cluster-sum: %v", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		pool.Kill()
		log.Fatalf("cluster-sum: %v", err)
	}
	srv := &http.Server{Handler: handler}
	go srv.Serve(ln)
	for _, w := range pool.Stats().Workers {
		fmt.Printf("cluster-sum: %s worker %d has pid %d\n", *lang, w.Index, w.Pid)
	}
	fmt.Printf("cluster-sum: listening on http://%s/ (try kill -9 on a worker pid)\n", ln.Addr())
	<-ctx.Done()

	drain, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(drain); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("cluster-sum: %v", err)
	}
	if err := pool.Shutdown(drain); err != nil {
		log.Printf("cluster-sum: %v", err)
	}
}
