// Command fork-sum is the seed's process-fork.js done with polyfork: an HTTP server whose
// /get-sum forks a Python compute child per request, sends it "start", and answers with
// the sum the child sends back. A child that crashes yields an "error" answer, and the
// server keeps serving.
//
//	go run ./examples/fork-sum                 # serve on 127.0.0.1:3000
//	curl localhost:3000/get-sum                # sum is 4999950000
//	curl 'localhost:3000/get-sum?crash=1'      # error (the child exited with status 1)
//	go run ./examples/fork-sum -demo           # start, make a few requests, print, exit
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
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/polyfork/polyfork/bridge"
)

// here is the folder of this file, where compute.py lives.
func here() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// server answers /get-sum by forking a child per request, as the seed does.
type server struct {
	argv []string
	env  []string
	logs io.Writer
}

func newServer(logs io.Writer) *server {
	dir := here()
	return &server{
		argv: []string{python(), filepath.Join(dir, "compute.py")},
		env:  []string{"PYTHONPATH=" + filepath.Join(dir, "..", "..", "clients", "python", "src")},
		logs: logs,
	}
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/get-sum" {
		http.NotFound(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	sums := make(chan any, 1)
	child, err := bridge.Start(ctx, s.argv,
		bridge.WithEnv(s.env...),
		bridge.WithStderr(s.logs),
		bridge.OnMessage(func(v any) {
			select {
			case sums <- v:
			default:
			}
		}))
	if err != nil {
		fmt.Fprintf(s.logs, "fork-sum: cannot start the compute child: %v\n", err)
		http.Error(w, "error", http.StatusInternalServerError)
		return
	}
	defer child.Close()

	msg := "start"
	if r.URL.Query().Has("crash") {
		msg = "crash"
	}
	if err := child.Send(ctx, msg); err != nil {
		fmt.Fprintf(s.logs, "fork-sum: %v\n", err)
		http.Error(w, "error", http.StatusInternalServerError)
		return
	}
	select {
	case sum := <-sums:
		fmt.Fprintf(w, "sum is %v", sum)
	case <-child.Done():
		fmt.Fprintf(s.logs, "fork-sum: the child exited before answering: %v\n", child.Wait())
		http.Error(w, "error", http.StatusInternalServerError)
	case <-ctx.Done():
		http.Error(w, "error", http.StatusGatewayTimeout)
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "address to listen on")
	demo := flag.Bool("demo", false, "make a few requests, print the answers and exit")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("fork-sum: %v", err)
	}
	srv := &http.Server{Handler: newServer(os.Stderr)}
	go srv.Serve(ln)
	fmt.Printf("fork-sum: listening on http://%s/get-sum (pid %d)\n", ln.Addr(), os.Getpid())

	if *demo {
		err := runDemo("http://"+ln.Addr().String(), os.Stdout)
		_ = srv.Shutdown(context.Background())
		if err != nil {
			fmt.Fprintf(os.Stderr, "fork-sum: the demo failed: %v\n", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("fork-sum: %v", err)
	}
}

// runDemo makes the demo's requests to the server at base and prints each answer to out. It
// fails when a request that should have a sum has none: the demo then exits 1, with the
// interpreter it used named (it printed "500 error" three times and exited 0).
func runDemo(base string, out io.Writer) error {
	var failed []string
	for _, path := range []string{"/get-sum", "/get-sum?crash=1", "/get-sum"} {
		code, answer := get(base + path)
		fmt.Fprintf(out, "GET %-18s -> %s\n", path, answer)
		if path == "/get-sum" && code != http.StatusOK {
			failed = append(failed, path)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d requests for /get-sum got no sum (the log above says why; the child runs %s, set POLYFORK_PYTHON to another interpreter)",
			len(failed), python())
	}
	return nil
}

// python is the interpreter the compute children run with: POLYFORK_PYTHON, or python3.
func python() string {
	if py := os.Getenv("POLYFORK_PYTHON"); py != "" {
		return py
	}
	return "python3"
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, fmt.Sprintf("%d %s", resp.StatusCode, body)
}
