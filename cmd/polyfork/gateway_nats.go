package main

import (
	"context"
	"errors"
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

const serveRemoteAbout = `Put the workers of the agents of the service NAME behind HTTP, through NATS: the routes
of "polyfork serve" (POST /call/{method} with a JSON array body, GET /healthz) plus
GET /agents, the agents' stats. The workers run under "polyfork agent" anywhere on the
NATS network; this process runs none.

Statuses as "polyfork serve" gives them, plus 503 NoAgents (no agent serves NAME), 502
AgentLost (the agent went silent during the call) and 502 Disconnected (the NATS
connection dropped during the call). "Idempotency: true" lets a call be sent to another
agent if its agent dies.

example:
  polyfork serve -nats nats://127.0.0.1:4222 -service sum -addr 127.0.0.1:3000
`

// runServeRemote is polyfork serve -nats: the HTTP gateway in front of a service's agents.
func runServeRemote(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	stderr = &syncWriter{w: stderr}
	cmd := newCommand("serve", "polyfork serve -nats URL -service NAME [flags]", serveRemoteAbout)
	var nf natsFlags
	nf.add(cmd.flags)
	addr := cmd.flags.String("addr", "127.0.0.1:3000", "address to listen on")
	timeout := cmd.flags.Duration("timeout", 30*time.Second, "longest a call may take; the agent applies it too (504 past it)")
	drain := cmd.flags.Duration("drain", 30*time.Second, "on SIGTERM or SIGINT, how long the calls in flight may take to finish")
	maxBody := byteSize(8 << 20)
	cmd.flags.Var(&maxBody, "max-body", "largest request body; past it: 413")
	headerTimeout := cmd.flags.Duration("read-header-timeout", 10*time.Second, "longest a client may take to send a request's headers")
	var code int
	positional, argv, ok := cmd.parse(args, stdout, stderr, &code)
	if !ok {
		return code
	}
	var problems []string
	if len(positional) != 0 || len(argv) != 0 {
		problems = append(problems, "with -nats, serve takes no command: the agents of -service run the workers")
	}
	if err := nf.check(true); err != nil {
		problems = append(problems, err.Error())
	}
	if *timeout <= 0 || *drain <= 0 || *headerTimeout <= 0 || maxBody <= 0 {
		problems = append(problems, "-timeout, -drain, -read-header-timeout and -max-body must be positive")
	}
	if len(problems) > 0 {
		return cmd.usageError(stderr, "%s", strings.Join(problems, "\n  "))
	}
	nc, err := nf.connect("polyfork serve "+nf.service, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "polyfork serve: %v\n", err)
		return exitFailure
	}
	defer nc.Close()
	pool, err := remote.Dial(ctx, nc, nf.service)
	if err != nil {
		return cmd.usageError(stderr, "%v", err)
	}
	defer pool.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "polyfork serve: %v\n", err)
		return exitFailure
	}
	gw := &natsGateway{nc: nc, pool: pool, timeout: *timeout, maxBody: int64(maxBody), mux: http.NewServeMux()}
	gw.mux.HandleFunc("POST /call/{method}", gw.call)
	gw.mux.HandleFunc("POST /call/{$}", gw.call) // an empty method name: 400, not 404
	gw.mux.HandleFunc("GET /healthz", gw.healthz)
	gw.mux.HandleFunc("GET /agents", gw.agents)
	srv := &http.Server{Handler: gw.mux, ReadHeaderTimeout: *headerTimeout}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stderr, "polyfork serve: listening on http://%s for the agents of %q on %s\n", ln.Addr(), nf.service, redact(nc.ConnectedUrl()))

	code = exitOK
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

// natsGateway is the HTTP face of a remote pool.
type natsGateway struct {
	nc      *nats.Conn
	pool    *remote.Pool
	timeout time.Duration
	maxBody int64
	mux     *http.ServeMux
}

// call serves POST /call/{method} as polyfork serve does, through the agents.
func (g *natsGateway) call(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	if err := checkMethod(method); err != nil {
		writeGatewayError(w, http.StatusBadRequest, "BadMethod", err.Error(), "")
		return
	}
	params := msgpack.RawMessage{0x90} // no body: no params
	if r.ContentLength != 0 {
		var err error
		params, err = paramsFromJSON(http.MaxBytesReader(w, r.Body, g.maxBody), jsonLimits{
			maxDepth: paramsMaxDepth, depthWhy: paramsDepthWhy, maxValues: requestMaxValues, valuesWhy: "the wire's limit"})
		if err != nil {
			w.Header().Set("Connection", "close")
			writeGatewayError(w, paramsErrorStatus(err), "BadRequest", "the body must be a JSON array of params: "+err.Error(), "")
			return
		}
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
			writeGatewayError(w, code, re.Type, err.Error(), re.Traceback)
			return
		}
		writeGatewayError(w, code, typ, err.Error(), "")
		return
	}
	v, err := protocol.DecodeValue(raw)
	var out []byte
	if err == nil {
		out, err = toJSON(v)
	}
	if err != nil {
		writeGatewayError(w, http.StatusBadGateway, "BadResult", fmt.Sprintf("the result of %s cannot be written as JSON: %v", method, err), "")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(out, '\n'))
}

// writeGatewayError writes {"error": {"type", "message", "traceback"}}.
func writeGatewayError(w http.ResponseWriter, code int, typ, message, traceback string) {
	e := map[string]string{"type": typ, "message": message}
	if traceback != "" {
		e["traceback"] = traceback
	}
	writeJSONResponse(w, code, map[string]any{"error": e}, false)
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
func (g *natsGateway) healthz(w http.ResponseWriter, r *http.Request) {
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
	writeJSONResponse(w, code, out, false)
}

// agents answers the agents' stats, as polyfork agents -json prints them.
func (g *natsGateway) agents(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	agents, err := remote.Agents(ctx, g.nc, g.pool.Service())
	if err != nil {
		writeGatewayError(w, http.StatusServiceUnavailable, "NoAgents", err.Error(), "")
		return
	}
	writeJSONResponse(w, http.StatusOK, agents, true)
}
