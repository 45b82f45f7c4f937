package bridge

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/polyfork/polyfork/protocol"
)

// Option configures a Conn, a Process or a Pool. There is one kind of option for all three:
// NewConn takes the options of a connection (handlers, callbacks, limits, logging); Start
// takes those and the options of a process (environment, directory, grace periods, channel,
// console, isolation); NewPool takes all of them, applying the first two kinds to every
// worker. Options are applied in order (a later one wins) and validated once, when the
// constructor runs: every mistake is reported together, as *OptionError values joined in one
// error that matches ErrInvalidOption.
//
// Names follow one scheme: With... sets something, On... registers a callback.
type Option func(*config)

// ErrInvalidOption is matched (errors.Is) by every error that reports a bad option.
var ErrInvalidOption = errors.New("bridge: invalid option")

// OptionError reports one bad option: its name and what is wrong with it. A constructor
// that was given several bad options returns them joined; errors.As finds the first.
type OptionError struct {
	Option string // the option's name, such as "WithWorkers"
	Reason string // what is wrong, such as "0 is less than 1"
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("bridge: invalid option %s: %s", e.Option, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidOption) true.
func (e *OptionError) Is(target error) bool { return target == ErrInvalidOption }

// scope says which constructors an option applies to.
type scope uint8

const (
	scopeConn    scope = iota // Conn, Process and Pool
	scopeProcess              // Process and Pool
	scopePool                 // Pool only
)

func (s scope) String() string {
	switch s {
	case scopeConn:
		return "a Conn"
	case scopeProcess:
		return "a Process"
	}
	return "a Pool"
}

// config holds every setting; each constructor reads the part that concerns it.
type config struct {
	conn connConfig
	proc procConfig
	pool poolConfig

	widest     scope  // the widest scope among the options given
	widestName string // an option of that scope, for the error
	errs       []error
}

// newConfig applies opts to the defaults and checks that none is wider than target.
func newConfig(target scope, opts []Option) (*config, error) {
	c := &config{conn: defaultConnConfig(), proc: defaultProcConfig(), pool: defaultPoolConfig()}
	for _, o := range opts {
		if o == nil {
			c.errs = append(c.errs, &OptionError{Option: "nil", Reason: "a nil Option was passed"})
			continue
		}
		o(c)
	}
	if c.widest > target {
		c.errs = append(c.errs, &OptionError{Option: c.widestName,
			Reason: fmt.Sprintf("applies to %s, not to %s", c.widest, target)})
	}
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	return c, nil
}

// use records that option name of scope s was given.
func (c *config) use(name string, s scope) {
	if s > c.widest || c.widestName == "" {
		c.widest, c.widestName = s, name
	}
}

// fail records a bad option.
func (c *config) fail(name, format string, args ...any) {
	c.errs = append(c.errs, &OptionError{Option: name, Reason: fmt.Sprintf(format, args...)})
}

// reserved reports whether a method or notification name is the protocol's.
func reserved(name string) bool { return strings.HasPrefix(name, "$") }

// checkMethod refuses a call to a method no handler can have: an empty name, or one
// starting with '$' (SPEC 4.3: the protocol's; a child answers such a call
// MethodNotFound at best), as WithHandler and Notify refuse them.
func checkMethod(method string) error {
	if method == "" || reserved(method) {
		return fmt.Errorf("bridge: call %s: %w: a method name must not be empty or start with '$' (such names are the protocol's)", protocol.QuoteName(method), ErrUnsendable)
	}
	return nil
}

// connConfig is what a Conn is built from; it never changes afterwards.
type connConfig struct {
	handlers  map[string]Handler
	notify    map[string]NotificationHandler
	maxFrame  int
	maxValues int
	name      string
	logger    *slog.Logger // nil: handler panics to slog.Default(), the rest discarded
	onEnd     func(cause error) error
	child     *childRole
}

// childRole is what WithChildRole configures.
type childRole struct {
	ready  ReadyInfo
	onStop func()
}

func defaultConnConfig() connConfig {
	return connConfig{
		handlers:  map[string]Handler{},
		notify:    map[string]NotificationHandler{},
		maxFrame:  protocol.DefaultMaxFrameSize,
		maxValues: protocol.DefaultMaxValues,
	}
}

// WithHandler registers a method the other side can call: for a Process or a Pool, a host
// method the child calls with call(); for a Conn, a method of this side. Register handlers
// here rather than with Handle when the other side may call them at once.
func WithHandler(method string, h Handler) Option {
	return func(c *config) {
		c.use("WithHandler", scopeConn)
		if method == "" || reserved(method) || h == nil {
			c.fail("WithHandler", "method %q must be non-empty, not start with '$', and have a handler", method)
			return
		}
		c.conn.handlers[method] = h
	}
}

// OnMessage registers fn for the values the other side sends with send(value), like
// process.on('message') in Node. The value is decoded as protocol.DecodeValue does. fn runs
// on the goroutine that runs notification handlers (see NotificationHandler).
func OnMessage(fn func(v any)) Option {
	return func(c *config) {
		c.use("OnMessage", scopeConn)
		if fn == nil {
			c.fail("OnMessage", "the callback is nil")
			return
		}
		c.conn.notify[MethodMessage] = messageHandler(fn)
	}
}

// OnNotification registers fn for the other side's notifications named method.
func OnNotification(method string, fn NotificationHandler) Option {
	return func(c *config) {
		c.use("OnNotification", scopeConn)
		if method == "" || reserved(method) || fn == nil {
			c.fail("OnNotification", "method %q must be non-empty, not start with '$', and have a handler", method)
			return
		}
		c.conn.notify[method] = fn
	}
}

// WithMaxFrameSize sets the largest frame accepted from the other side and sent to it
// (default 64 MiB). A child learns it from POLYFORK_MAX_FRAME_SIZE.
func WithMaxFrameSize(n int) Option {
	return func(c *config) {
		c.use("WithMaxFrameSize", scopeConn)
		if n < 64 || n > 1<<32-1 {
			c.fail("WithMaxFrameSize", "%d is outside 64 .. 4294967295", n)
		}
		c.conn.maxFrame = n
	}
}

// WithMaxValues sets the largest number of msgpack values one frame may hold, both ways
// (default 4194304; SPEC section 3). It bounds the memory one decoded message can take. A
// child learns it from POLYFORK_MAX_VALUES.
func WithMaxValues(n int) Option {
	return func(c *config) {
		c.use("WithMaxValues", scopeConn)
		if n < 16 {
			c.fail("WithMaxValues", "%d is less than 16", n)
		}
		c.conn.maxValues = n
	}
}

// WithName sets the name that tags logs and errors: a Conn's peer, a Process's child (the
// default is the script's file name, compute.py in ["python3", "compute.py"]), a Pool's
// workers ("NAME#0", "NAME#1", ...).
func WithName(name string) Option {
	return func(c *config) {
		c.use("WithName", scopeConn)
		c.conn.name = name
	}
}

// WithLogger sends what polyfork itself has to say to l: a notification handler that
// panicked, a child started or exited (with its status and last stderr lines), a pool
// worker restarted, timed out or crash-looping, and recovered. The default discards
// everything but handler panics, which go to slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		c.use("WithLogger", scopeConn)
		if l == nil {
			c.fail("WithLogger", "the logger is nil")
			return
		}
		c.conn.logger = l
	}
}

// OnEnd decides what a Conn's session ends with when its stream ends by itself (not by
// Close): fn gets the cause (io.EOF at a clean end of input, a *protocol.Error for bytes
// that break the protocol, the read or write error otherwise) and returns the error that
// calls in flight and later calls fail with. It runs once, on the Conn's reader or writer
// goroutine, and may block until it knows more (a Process waits for its child's exit
// status there). The default returns a *ProtocolError for protocol errors and the cause
// wrapped with what the Conn was doing otherwise.
func OnEnd(fn func(cause error) error) Option {
	return func(c *config) {
		c.use("OnEnd", scopeConn)
		if fn == nil {
			c.fail("OnEnd", "the callback is nil")
			return
		}
		c.conn.onEnd = fn
	}
}

// WithChildRole makes a Conn the child's side of a session: it sends the $ready handshake
// with info as its first frame, answers requests that arrive after $stop with the Stopping
// error instead of running them, and calls onStop (if not nil) once when $stop arrives.
// Package bridge/child is built on it; a host never needs it.
func WithChildRole(info ReadyInfo, onStop func()) Option {
	return func(c *config) {
		c.use("WithChildRole", scopeConn)
		if info.Protocol == 0 {
			info.Protocol = protocolVersion
		}
		c.conn.child = &childRole{ready: info, onStop: onStop}
	}
}
