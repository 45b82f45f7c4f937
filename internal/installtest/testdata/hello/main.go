// Command hello is a first polyfork program in a module of its own: it starts a Python
// worker, calls it, and prints what the worker answered.
//
//	PYTHONPATH=/path/to/polyfork/clients/python/src go run . [python3]
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/polyfork/polyfork/bridge"
)

// sum is the worker's answer; the json tags are enough for polyfork to fill it.
type sum struct {
	Total int64  `json:"total"`
	By    string `json:"by"`
}

func main() {
	python := "python3"
	if len(os.Args) > 1 {
		python = os.Args[1]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := bridge.Start(ctx, []string{python, "worker.py"})
	if err != nil {
		log.Fatal(err) // a *bridge.ExitError carries the worker's last stderr lines
	}
	defer p.Close()
	var s sum
	if err := p.Call(ctx, "add", []any{40, 2}, &s); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: 40 + 2 = %d (%s)\n", s.By, s.Total, p.Ready().Lib)
}
