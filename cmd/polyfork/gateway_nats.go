package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/protocol"
	"github.com/polyfork/polyfork/remote"
	"github.com/vmihailenco/msgpack/v5"
)

// runServeRemote is polyfork serve -nats: the HTTP gateway in front of a service's agents,
// with the routes of polyfork serve (POST /call/{method}, GET /healthz) plus GET /agents.
func runServeRemote(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("polyfork serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var nf natsFlags
	nf.add(fs)
	addr := fs.String("addr", "127.0.0.1:3000", "address to listen on")
	timeout := fs.Duration("timeout", 30*time.Second, "longest a call may take; the agent applies it too (504 past it)")
	drain := fs.Duration("drain", 30*time.Second, "on SIGTERM or SIGINT, how long calls in flight may take to finish")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	var problems []string
	if fs.NArg() != 0 {
		problems = append(problems, "with -nats, serve takes no command: the agents of -service run the workers")
	}
	if err := nf.check(true); err != nil {
		problems = append(problems, err.Error())
	}
	if *timeout <= 0 || *drain <= 0 {
		problems = append(problems, "-timeout and -drain must be positive")
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "polyfork serve: %s\n\n%s", strings.Join(problems, "; "), usage)
		return exitUsage
	}
	nc, err := nf.connect("polyfork serve "+nf.service, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "polyfork serve: %v\n", err)
		return exitFailure
	}
	defer nc.Close()
	pool, err := remote.Dial(ctx, nc, nf.service)
	if err != nil {
		fmt.Fprintf(stderr, "polyfork serve: %v\n", err)
		return exitUsage
	}
	defer pool.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "polyfork serve: %v\n", err)
		return exitFailure
	}
	srv := &http.Server{Handler: newGateway(nc, pool, *timeout), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stderr, "polyfork serve: listening on http://%s for the agents of %q on %s\n", ln.Addr(), nf.service, redact(nc.ConnectedUrl()))

	code := exitOK
	select {
	case <-ctx.Done():
		fmt.Fprintf(stderr, "polyfork serve: draining (up to %v)\n", *drain)
	case err := <-served:
		fmt.Fprintf(stderr, "polyfork serve: %v\n", err)
		code = exitFailure
	}
	drainCtx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	if err := srv.Shutdown(drainCtx); err != nil {
		fmt.Fprintf(stderr, "polyfork serve: %v\n", err)
		code = exitFailure
	}
	return code
}

// gateway is the HTTP face of a remote pool.
type gateway struct {
	nc      *nats.Conn
	pool    *remote.Pool
	timeout time.Duration
	mux     *http.ServeMux
}

func newGateway(nc *nats.Conn, pool *remote.Pool, timeout time.Duration) *gateway {
	g := &gateway{nc: nc, pool: pool, timeout: timeout, mux: http.NewServeMux()}
	g.mux.HandleFunc("POST /call/{method}", g.call)
	g.mux.HandleFunc("GET /healthz", g.healthz)
	g.mux.HandleFunc("GET /agents", g.agents)
	return g
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.mux.ServeHTTP(w, r) }

// call serves POST /call/{method} as polyfork serve does, through the agents.
func (g *gateway) call(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, protocol.DefaultMaxFrameSize))
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("reading the body: %v", err), "")
		return
	}
	params := []any{}
	if len(strings.TrimSpace(string(body))) > 0 {
		v, err := parseJSON(body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "BadRequest", "the body must be a JSON array of params: "+err.Error(), "")
			return
		}
		list, ok := v.([]any)
		if !ok {
			writeError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("the body must be a JSON array of params, such as [1, 2]; got %q", clip(string(body))), "")
			return
		}
		params = list
	}
	var opts []bridge.CallOption
	if r.Header.Get("Idempotency") == "true" || r.Header.Get("X-Polyfork-Idempotent") == "1" {
		opts = append(opts, bridge.Idempotent())
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.timeout)
	defer cancel()
	var raw msgpack.RawMessage
	if err := g.pool.Call(ctx, method, params, &raw, opts...); err != nil {
		code, typ := classifyRemote(err)
		var re *bridge.RemoteError
		if errors.As(err, &re) {
			writeError(w, code, re.Type, err.Error(), re.Traceback)
			return
		}
		writeError(w, code, typ, err.Error(), "")
		return
	}
	v, err := protocol.DecodeValue(raw)
	var out []byte
	if err == nil {
		out, err = toJSON(v)
	}
	if err != nil {
		writeError(w, http.StatusBadGateway, "BadResult", fmt.Sprintf("the result of %s cannot be written as JSON: %v", method, err), "")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(append(out, '\n'))
}

// classifyRemote maps a remote pool's error to an HTTP status and an error type: the
// errors of package remote first, then those it shares with a local pool.
func classifyRemote(err error) (int, string) {
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

// healthz answers 200 when at least one agent has a ready worker.
func (g *gateway) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	agents, err := remote.Agents(ctx, g.nc, g.pool.Service())
	ready := 0
	for _, a := range agents {
		ready += a.Stats.Pool.Ready
	}
	code := http.StatusOK
	if ready == 0 {
		code = http.StatusServiceUnavailable
	}
	out := map[string]any{"agents": len(agents), "ready_workers": ready, "nats": g.nc.Status().String()}
	if err != nil {
		out["error"] = err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(out)
}

// agents answers the agents' stats, as polyfork agents -json prints them.
func (g *gateway) agents(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	agents, err := remote.Agents(ctx, g.nc, g.pool.Service())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "NoAgents", err.Error(), "")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(agents)
}
