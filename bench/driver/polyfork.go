package driver

import (
	"context"
	"os"
	"time"

	"github.com/polyfork/polyfork/bridge"
)

// process is one polyfork child, called as the README shows: bridge.Start, Process.Call.
type process struct {
	p *bridge.Process
}

func startProcess(argv, env []string) (*process, error) {
	p, err := bridge.Start(context.Background(), argv, bridge.WithEnv(env...), bridge.WithStderr(os.Stderr))
	if err != nil {
		return nil, err
	}
	return &process{p: p}, nil
}

func (c *process) roundTrip(payload string) error {
	var out string
	if err := c.p.Call(context.Background(), "echo", []any{payload}, &out); err != nil {
		return err
	}
	return checkEcho(out, payload)
}

func (c *process) throughput(payload string, d time.Duration, conc int) (int64, time.Duration, error) {
	return callers(conc, d, func() error { return c.roundTrip(payload) })
}

func (c *process) close() error { return c.p.Close() }

// pool is a bridge.Pool of workers, called from many goroutines.
type pool struct {
	p *bridge.Pool
}

// startPool starts a pool of workers; concurrency 0 keeps the default (an adaptive window
// per worker), n > 0 fixes it with WithConcurrency(n).
func startPool(argv, env []string, workers, concurrency int) (*pool, error) {
	opts := []bridge.Option{bridge.WithWorkers(workers), bridge.WithEnv(env...), bridge.WithStderr(os.Stderr)}
	if concurrency > 0 {
		opts = append(opts, bridge.WithConcurrency(concurrency))
	}
	p, err := bridge.NewPool(context.Background(), argv, opts...)
	if err != nil {
		return nil, err
	}
	return &pool{p: p}, nil
}

func (c *pool) roundTrip(payload string) error {
	var out string
	if err := c.p.Call(context.Background(), "echo", []any{payload}, &out); err != nil {
		return err
	}
	return checkEcho(out, payload)
}

func (c *pool) throughput(payload string, d time.Duration, conc int) (int64, time.Duration, error) {
	return callers(conc, d, func() error { return c.roundTrip(payload) })
}

func (c *pool) close() error { return c.p.Close() }

// spawn starts a new child for every call, as the seed's /get-sum does: Start, one Call,
// Close (which waits for the child to exit).
type spawn struct {
	argv, env []string
}

func (c *spawn) roundTrip(payload string) error {
	p, err := startProcess(c.argv, c.env)
	if err != nil {
		return err
	}
	err = p.roundTrip(payload)
	if cerr := p.close(); err == nil {
		err = cerr
	}
	return err
}

func (c *spawn) throughput(payload string, d time.Duration, conc int) (int64, time.Duration, error) {
	return callers(conc, d, func() error { return c.roundTrip(payload) })
}

func (c *spawn) close() error { return nil }
