package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/remote"
	"github.com/prometheus/client_golang/prometheus"
)

// backend is what serve's gateway fronts: a local pool of workers, or the agents of a NATS
// service (serve -nats). Either way the gateway bounds, answers and logs requests the same.
type backend interface {
	bridge.Caller
	// health reports whether calls can be served now, and a JSON body saying why.
	health(ctx context.Context) (ok bool, body any)
	// statusRoute is the route of the workers' stats ("/workers" or "/agents").
	statusRoute() string
	// status returns those stats, as JSON.
	status(ctx context.Context) (any, error)
	// collector is the backend's Prometheus metrics, or nil.
	collector() prometheus.Collector
	// queued is how many calls wait for a worker here, for the drain's log.
	queued() int
	// classify maps a call's error to an HTTP status and an error type.
	classify(err error) (int, string)
	// stop ends the backend within ctx once the calls are done: $stop to local workers.
	stop(ctx context.Context) error
}

// localBackend is a pool of workers this process started.
type localBackend struct{ pool *bridge.Pool }

func (b localBackend) Call(ctx context.Context, method string, params, result any, opts ...bridge.CallOption) error {
	return b.pool.Call(ctx, method, params, result, opts...)
}
func (b localBackend) Send(ctx context.Context, v any) error { return b.pool.Send(ctx, v) }
func (b localBackend) Notify(ctx context.Context, method string, params ...any) error {
	return b.pool.Notify(ctx, method, params...)
}

func (b localBackend) health(context.Context) (bool, any) {
	st := b.pool.Stats()
	return st.Ready > 0, map[string]any{
		"ready": st.Ready, "workers": len(st.Workers), "queued": st.Queued,
		"crash_looping": st.CrashLooping, "last_failure": st.LastFailure,
	}
}

func (b localBackend) statusRoute() string                 { return "/workers" }
func (b localBackend) status(context.Context) (any, error) { return b.pool.Stats(), nil }
func (b localBackend) collector() prometheus.Collector     { return poolCollector{b.pool} }
func (b localBackend) queued() int                         { return b.pool.Stats().Queued }
func (b localBackend) classify(err error) (int, string)    { return classify(err) }
func (b localBackend) stop(ctx context.Context) error      { return b.pool.Shutdown(ctx) }

// remoteBackend is the agents of a NATS service: this process runs no worker.
type remoteBackend struct {
	nc      *nats.Conn
	pool    *remote.Pool
	timeout time.Duration // the longest a call may take; the agent applies it too (0: none)
}

func (b remoteBackend) Call(ctx context.Context, method string, params, result any, opts ...bridge.CallOption) error {
	if b.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.timeout)
		defer cancel()
	}
	return b.pool.Call(ctx, method, params, result, opts...)
}
func (b remoteBackend) Send(ctx context.Context, v any) error { return b.pool.Send(ctx, v) }
func (b remoteBackend) Notify(ctx context.Context, method string, params ...any) error {
	return b.pool.Notify(ctx, method, params...)
}

// health answers ok when at least one agent has a ready worker.
func (b remoteBackend) health(ctx context.Context) (bool, any) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	agents, err := remote.Agents(ctx, b.nc, b.pool.Service())
	ready := 0
	for _, a := range agents {
		ready += a.Stats.Pool.Ready
	}
	out := map[string]any{"agents": len(agents), "ready_workers": ready, "nats": b.nc.Status().String()}
	if err != nil {
		out["error"] = err.Error()
	}
	return ready > 0, out
}

func (b remoteBackend) statusRoute() string { return "/agents" }

// status answers the agents' stats, as polyfork agents -json prints them.
func (b remoteBackend) status(ctx context.Context) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return remote.Agents(ctx, b.nc, b.pool.Service())
}

func (b remoteBackend) collector() prometheus.Collector { return nil }
func (b remoteBackend) queued() int                     { return 0 }

// classify maps the errors of package remote first, then those it shares with a local pool.
func (b remoteBackend) classify(err error) (int, string) {
	switch {
	case errors.Is(err, remote.ErrNoAgents):
		return http.StatusServiceUnavailable, "NoAgents"
	case errors.Is(err, remote.ErrAgentLost):
		return http.StatusBadGateway, "AgentLost"
	case errors.Is(err, remote.ErrDisconnected):
		return http.StatusBadGateway, "Disconnected"
	case errors.Is(err, remote.ErrPayloadTooLarge):
		return http.StatusRequestEntityTooLarge, "PayloadTooLarge"
	}
	return classify(err)
}

func (b remoteBackend) stop(context.Context) error { return b.pool.Close() }
