package driver

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/polyfork/polyfork/bench"
	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/remote"
	"github.com/vmihailenco/msgpack/v5"
)

// benchMaxPayload lets the 1 MiB payload travel as one NATS message, for plain NATS and for
// the remote pool alike.
const benchMaxPayload = 8 << 20

// openRemote starts a system of the remote group: a NATS server in this process, and what
// the system calls through it (bench.Remote* kinds).
func openRemote(sys bench.System, argv, env []string) (channel, error) {
	switch sys.Params["kind"] {
	case bench.RemoteNATS:
		return startNATSEcho()
	case bench.RemoteAgent:
		return startRemote(argv, env)
	case bench.RemoteLocalPool:
		return startPool(argv, env, 1, 32)
	case bench.RemoteNATSPool:
		return startNATSPool(argv, env)
	}
	return nil, fmt.Errorf("no remote system of kind %q", sys.Params["kind"])
}

// natsServer starts the NATS server the remote systems run through, on loopback.
func natsServer() (*remote.Server, error) {
	return remote.RunServer(remote.ServerConfig{MaxPayload: benchMaxPayload, NoJetStream: true})
}

func natsConn(s *remote.Server) (*nats.Conn, error) {
	return nats.Connect(s.ClientURL(), nats.Name("polyfork bench"))
}

// natsEcho is plain NATS request/reply, the reference: a Go responder that answers each
// request with its own bytes, and nats.Conn.Request, each on its own connection.
type natsEcho struct {
	srv       *remote.Server
	req, resp *nats.Conn
}

func startNATSEcho() (*natsEcho, error) {
	s, err := natsServer()
	if err != nil {
		return nil, err
	}
	c := &natsEcho{srv: s}
	if c.resp, err = natsConn(s); err == nil {
		_, err = c.resp.Subscribe("bench.echo", func(m *nats.Msg) { _ = m.Respond(m.Data) })
	}
	if err == nil {
		err = c.resp.Flush()
	}
	if err == nil {
		c.req, err = natsConn(s)
	}
	if err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *natsEcho) roundTrip(payload string) error {
	m, err := c.req.Request("bench.echo", []byte(payload), time.Minute)
	if err != nil {
		return err
	}
	return checkEcho(string(m.Data), payload)
}

func (c *natsEcho) throughput(payload string, d time.Duration, conc int) (int64, time.Duration, error) {
	return callers(conc, d, func() error { return c.roundTrip(payload) })
}

func (c *natsEcho) close() error {
	for _, nc := range []*nats.Conn{c.req, c.resp} {
		if nc != nil {
			nc.Close()
		}
	}
	c.srv.Shutdown()
	return nil
}

// natsPool is the least a NATS front of a pool can do: a NATS responder whose callback
// calls the local pool with the request's bytes as msgpack params and answers with the
// result's bytes, synchronously; the requester sends the msgpack params [payload].
type natsPool struct {
	natsEcho
	pool *bridge.Pool
}

func startNATSPool(argv, env []string) (*natsPool, error) {
	s, err := natsServer()
	if err != nil {
		return nil, err
	}
	c := &natsPool{natsEcho: natsEcho{srv: s}}
	c.pool, err = bridge.NewPool(context.Background(), argv, bridge.WithWorkers(1), bridge.WithConcurrency(32),
		bridge.WithEnv(env...), bridge.WithStderr(os.Stderr))
	if err == nil {
		c.resp, err = natsConn(s)
	}
	if err == nil {
		_, err = c.resp.Subscribe("bench.pool", func(m *nats.Msg) {
			var out msgpack.RawMessage
			if err := c.pool.Call(context.Background(), "echo", msgpack.RawMessage(m.Data), &out); err != nil {
				out = nil // the requester sees the wrong length
			}
			_ = m.Respond(out)
		})
	}
	if err == nil {
		err = c.resp.Flush()
	}
	if err == nil {
		c.req, err = natsConn(s)
	}
	if err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *natsPool) roundTrip(payload string) error {
	params, err := msgpack.Marshal([]string{payload})
	if err != nil {
		return err
	}
	m, err := c.req.Request("bench.pool", params, time.Minute)
	if err != nil {
		return err
	}
	var out string
	if err := msgpack.Unmarshal(m.Data, &out); err != nil {
		return err
	}
	return checkEcho(out, payload)
}

func (c *natsPool) throughput(payload string, d time.Duration, conc int) (int64, time.Duration, error) {
	return callers(conc, d, func() error { return c.roundTrip(payload) })
}

func (c *natsPool) close() error {
	err := c.natsEcho.close()
	if c.pool != nil {
		if cerr := c.pool.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// remoteEcho is the remote pool: remote.Pool.Call -> NATS -> an agent (remote.NewAgent)
// with one Python echo worker taking up to 32 calls at once, each on its own connection.
type remoteEcho struct {
	srv      *remote.Server
	agentNC  *nats.Conn
	callerNC *nats.Conn
	agent    *remote.Agent
	pool     *remote.Pool
}

func startRemote(argv, env []string) (*remoteEcho, error) {
	s, err := natsServer()
	if err != nil {
		return nil, err
	}
	c := &remoteEcho{srv: s}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if c.agentNC, err = natsConn(s); err == nil {
		c.agent, err = remote.NewAgent(ctx, c.agentNC, "bench", argv, remote.AgentMaxInFlight(64),
			remote.AgentPool(bridge.WithWorkers(1), bridge.WithConcurrency(32), bridge.WithEnv(env...), bridge.WithStderr(os.Stderr)))
	}
	if err == nil {
		c.callerNC, err = natsConn(s)
	}
	if err == nil {
		// 32 calls of 1 MiB in flight, with the server, the agent, the worker and the
		// caller on one CPU, queue in NATS for over a second: more than the default 2 s
		// heartbeat bound allows between beats. The bench measures speed, not failure
		// detection.
		c.pool, err = remote.Dial(ctx, c.callerNC, "bench", remote.WithHeartbeat(10*time.Second))
	}
	if err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *remoteEcho) roundTrip(payload string) error {
	var out string
	if err := c.pool.Call(context.Background(), "echo", []any{payload}, &out); err != nil {
		return err
	}
	return checkEcho(out, payload)
}

func (c *remoteEcho) throughput(payload string, d time.Duration, conc int) (int64, time.Duration, error) {
	return callers(conc, d, func() error { return c.roundTrip(payload) })
}

func (c *remoteEcho) close() error {
	var err error
	if c.pool != nil {
		c.pool.Close()
	}
	if c.agent != nil {
		err = c.agent.Close()
	}
	for _, nc := range []*nats.Conn{c.callerNC, c.agentNC} {
		if nc != nil {
			nc.Close()
		}
	}
	c.srv.Shutdown()
	return err
}
