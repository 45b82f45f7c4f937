package remote

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/protocol"
)

// Option configures a remote pool (Dial). Options are validated once, when Dial runs: every
// mistake is reported together, as *bridge.OptionError values joined in one error that
// matches bridge.ErrInvalidOption.
type Option func(*config)

// config is what a remote pool is built from; it never changes afterwards.
type config struct {
	heartbeat   time.Duration
	maxValues   int
	notRunTries int
	lostTries   int
	durable     bool
	onMessage   func(v any)
	notify      map[string]bridge.NotificationHandler
	logger      *slog.Logger
	errs        []error
}

func defaultConfig() config {
	return config{heartbeat: 2 * time.Second, maxValues: protocol.DefaultMaxValues, notRunTries: 10, lostTries: 2,
		notify: map[string]bridge.NotificationHandler{}}
}

func (c *config) fail(name, format string, args ...any) {
	c.errs = append(c.errs, &bridge.OptionError{Option: name, Reason: fmt.Sprintf(format, args...)})
}

func newConfig(opts []Option) (config, error) {
	c := defaultConfig()
	for _, o := range opts {
		if o == nil {
			c.fail("nil", "a nil Option was passed")
			continue
		}
		o(&c)
	}
	if len(c.errs) > 0 {
		return c, errors.Join(c.errs...)
	}
	return c, nil
}

// WithHeartbeat bounds how long a call waits for a sign of life from the agent that took
// it (default 2 s): the agent sends a beat every quarter of it while the call runs, and a
// call that hears nothing for three quarters of it fails with ErrAgentLost (an Idempotent
// one is sent to another agent), within the bound of the last sign of life, long before its
// context's deadline.
func WithHeartbeat(d time.Duration) Option {
	return func(c *config) {
		if d < 20*time.Millisecond {
			c.fail("WithHeartbeat", "%v is below 20ms", d)
		}
		c.heartbeat = d
	}
}

// WithMaxValues sets the largest number of msgpack values an answer may hold (default
// 4194304; SPEC section 3).
func WithMaxValues(n int) Option {
	return func(c *config) {
		if n < 16 {
			c.fail("WithMaxValues", "%d is less than 16", n)
		}
		c.maxValues = n
	}
}

// WithRetries sets how many times a call is sent again: notRun for answers that say it never
// ran (every worker of that agent busy and its queue full, or the agent stopping; default
// 10, with a backoff from 1 ms to 100 ms between tries), lost for Idempotent calls whose
// agent went silent, lost its worker or lost the connection (default 2).
func WithRetries(notRun, lost int) Option {
	return func(c *config) {
		if notRun < 0 || lost < 0 {
			c.fail("WithRetries", "%d and %d must not be negative", notRun, lost)
		}
		c.notRunTries, c.lostTries = notRun, lost
	}
}

// WithDurableSends makes Send publish to the service's JetStream work-queue stream instead
// of handing the message to an agent at once: Send returns when the stream has stored it,
// and an agent started with durable delivery takes it when it can, even if none runs now.
// Delivery is at least once: a message may reach a worker twice (see Agent). The NATS
// server must have JetStream enabled.
func WithDurableSends() Option {
	return func(c *config) { c.durable = true }
}

// OnMessage registers fn for the values the service's workers send with send(value), like
// process.on('message') in Node. Every remote pool of the service that registers it gets
// every message (a NATS subscription, not a queue group). fn runs on one goroutine, in the
// order the messages arrived.
func OnMessage(fn func(v any)) Option {
	return func(c *config) {
		if fn == nil {
			c.fail("OnMessage", "the callback is nil")
			return
		}
		c.onMessage = fn
	}
}

// OnNotification registers fn for the workers' notifications named method, as
// bridge.OnNotification does for a local pool. An agent forwards only the notifications it
// was told to (AgentForward, polyfork agent -forward), besides messages.
func OnNotification(method string, fn bridge.NotificationHandler) Option {
	return func(c *config) {
		if method == "" || method[0] == '$' || fn == nil {
			c.fail("OnNotification", "method %q must be non-empty, not start with '$', and have a handler", method)
			return
		}
		c.notify[method] = fn
	}
}

// WithLogger sends what the remote pool has to say (a message that could not be decoded, a
// connection lost with calls in flight) to l. The default discards it.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l == nil {
			c.fail("WithLogger", "the logger is nil")
			return
		}
		c.logger = l
	}
}
