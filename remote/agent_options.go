package remote

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/protocol"
)

// AgentOption configures an Agent (NewAgent). Options are validated once: every mistake is
// reported together, as *bridge.OptionError values joined in one error that matches
// bridge.ErrInvalidOption.
type AgentOption func(*agentConfig)

type agentConfig struct {
	pool        []bridge.Option
	maxInFlight int // 0: eight calls per worker
	forward     []string
	durable     bool
	durableCall string
	ackWait     time.Duration
	maxValues   int
	metadata    map[string]string
	logger      *slog.Logger
	errs        []error
}

func newAgentConfig(opts []AgentOption) (agentConfig, error) {
	c := agentConfig{ackWait: 30 * time.Second, maxValues: protocol.DefaultMaxValues, metadata: map[string]string{}}
	for _, o := range opts {
		if o == nil {
			c.fail("nil", "a nil AgentOption was passed")
			continue
		}
		o(&c)
	}
	if len(c.errs) > 0 {
		return c, errors.Join(c.errs...)
	}
	return c, nil
}

func (c *agentConfig) fail(name, format string, args ...any) {
	c.errs = append(c.errs, &bridge.OptionError{Option: name, Reason: fmt.Sprintf(format, args...)})
}

// AgentPool passes options to the agent's local bridge.Pool: how many workers, their
// concurrency, queue, limits, environment, stderr... (any bridge.Option a Pool takes). The
// agent registers the pool's message listener itself (it forwards messages to the
// service's callers), so an OnMessage given here is replaced.
func AgentPool(opts ...bridge.Option) AgentOption {
	return func(c *agentConfig) { c.pool = append(c.pool, opts...) }
}

// maxAgentInFlight is the most AgentMaxInFlight accepts. The durable loop's pull buffer is
// sized by it: math.MaxInt made NewAgent panic ("makechan: size out of range") with
// AgentDurable, after the workers had started, which then ran on.
const maxAgentInFlight = 1 << 20

// AgentMaxInFlight bounds the calls the agent takes at once, running or waiting for a
// worker (default: eight per worker). Past it, the agent answers at once that it did not
// run the call, and the caller sends it to another agent: a saturated agent hands calls on
// instead of queueing them without bound. Set it to what the workers take at once (their
// number times their concurrency) plus the queue you accept; the pool's own queue
// (bridge.WithQueueSize) should be at least that, and twice that with AgentDurable and a
// method, whose calls take as many places again. At most 1,048,576.
func AgentMaxInFlight(n int) AgentOption {
	return func(c *agentConfig) {
		switch {
		case n < 1:
			c.fail("AgentMaxInFlight", "%d is less than 1", n)
		case n > maxAgentInFlight:
			c.fail("AgentMaxInFlight", "%d is more than %d", n, maxAgentInFlight)
		}
		c.maxInFlight = n
	}
}

// AgentForward names the workers' notifications the agent publishes to the service's
// callers, besides messages (send(value)), which it always publishes.
func AgentForward(methods ...string) AgentOption {
	return func(c *agentConfig) {
		for _, m := range methods {
			if m == "" || m[0] == '$' || m == protocol.MethodMessage {
				c.fail("AgentForward", "%q: name a notification other than message that does not start with '$'", m)
				continue
			}
			c.forward = append(c.forward, m)
		}
	}
}

// AgentDurable makes the agent take the service's durable sends (WithDurableSends) from
// its JetStream work-queue stream, sharing them with the other agents of the service.
//
// With method "", each message goes to a worker's on('message') listeners and is
// acknowledged to the stream once a worker has been handed it: a message is redelivered if
// the agent dies before that, or no worker takes it, but not if the worker dies while it
// handles it. With a method name, each message v becomes the call method(v), acknowledged
// once the call has returned: a message whose worker dies (or whose agent dies) while it
// runs is redelivered to another. A call that raises is not redelivered (it is
// terminated, and logged). Either way delivery is at least once: a worker may see a
// message twice, so make its handling idempotent.
//
// ackWait is how long the stream waits for an acknowledgement before it redelivers (the
// agent tells it a message is still in progress every third of it while a call runs).
func AgentDurable(method string, ackWait time.Duration) AgentOption {
	return func(c *agentConfig) {
		if method != "" && method[0] == '$' {
			c.fail("AgentDurable", "method %q starts with '$'", method)
		}
		if ackWait < 100*time.Millisecond {
			c.fail("AgentDurable", "ackWait %v is below 100ms", ackWait)
		}
		c.durable, c.durableCall, c.ackWait = true, method, ackWait
	}
}

// AgentMaxValues sets the largest number of msgpack values a request may hold (default
// 4194304; SPEC section 3).
func AgentMaxValues(n int) AgentOption {
	return func(c *agentConfig) {
		if n < 16 {
			c.fail("AgentMaxValues", "%d is less than 16", n)
		}
		c.maxValues = n
	}
}

// AgentMetadata adds entries to the agent's NATS micro service metadata (shown by
// `nats micro info` and polyfork agents).
func AgentMetadata(kv map[string]string) AgentOption {
	return func(c *agentConfig) {
		for k, v := range kv {
			c.metadata[k] = v
		}
	}
}

// AgentLogger sends what the agent has to say (calls that failed for a reason other than
// the handler raising, events it could not publish, durable messages terminated) to l, with
// the agent's id and host. The default discards it.
func AgentLogger(l *slog.Logger) AgentOption {
	return func(c *agentConfig) {
		if l == nil {
			c.fail("AgentLogger", "the logger is nil")
			return
		}
		c.logger = l
	}
}
