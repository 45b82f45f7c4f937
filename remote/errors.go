package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/polyfork/polyfork/bridge"
)

// Sentinels matched with errors.Is. Besides these, errors of a remote pool match the
// bridge's: bridge.ErrClosed, bridge.ErrUnavailable (no agent, or none with a ready
// worker), bridge.ErrSaturated, bridge.ErrExited and bridge.ErrProtocol (the worker died
// or broke the protocol), bridge.ErrExecTimeout, bridge.ErrUnsendable, and
// context.DeadlineExceeded or context.Canceled.
var (
	// ErrNoAgents: no agent serves the service (NATS answered "no responders"). It also
	// matches bridge.ErrUnavailable. The call was not run.
	ErrNoAgents error = &sentinel{"remote: no agent serves the service", bridge.ErrUnavailable}
	// ErrAgentLost: the agent that took the call sent neither the answer nor a heartbeat
	// for the heartbeat bound (WithHeartbeat): it died, hangs, or lost its connection.
	// The call may or may not have run; an Idempotent call is retried on another agent.
	ErrAgentLost = errors.New("remote: the agent went silent during the call")
	// ErrDisconnected: the NATS connection was lost while the call was in flight, so its
	// answer may have been lost with it. The call may or may not have run; an Idempotent
	// call is sent again once the connection is back.
	ErrDisconnected = errors.New("remote: the NATS connection was lost during the call")
	// ErrPayloadTooLarge is matched by every *PayloadError.
	ErrPayloadTooLarge = errors.New("remote: payload above the NATS maximum payload")
)

// errNilContext is what every function and method that takes a context returns when given
// nil, instead of panicking part way (a nil context is the caller's bug).
var errNilContext = errors.New("remote: the context is nil: pass context.Background() when there is no deadline")

// The errors of the methods of a Pool or an Agent that Dial or NewAgent did not make (a zero
// value): they have no connection, so they do nothing and say so. They panicked.
var (
	errZeroPool  = errors.New("remote: this Pool is a zero value, not made by Dial: it has no connection")
	errZeroAgent = errors.New("remote: this Agent is a zero value, not made by NewAgent: it serves nothing")
)

// errNilConn is what every function that takes a NATS connection returns when given nil.
var errNilConn = errors.New("remote: the NATS connection is nil")

// sentinel is an error that also matches another sentinel.
type sentinel struct {
	msg  string
	also error
}

func (s *sentinel) Error() string        { return s.msg }
func (s *sentinel) Is(target error) bool { return target == s.also }

// Error is a call's failure as the agent reported it: the worker's handler raised (Code
// CodeRaised; errors.As finds the *bridge.RemoteError with the type, message and traceback
// the worker sent), or the agent could not run the call to its end (the other codes, which
// match the bridge's sentinels: CodeWorkerDied matches bridge.ErrExited or
// bridge.ErrProtocol, CodeNotRun bridge.ErrSaturated, bridge.ErrUnavailable or
// bridge.ErrStopping, CodeTimeout context.DeadlineExceeded, CodeCancelled
// context.Canceled).
type Error struct {
	Method string
	Code   int                 // one of the Code constants
	Remote *bridge.RemoteError // the error map the agent sent
	Agent  string              // the agent's id (its NATS micro service id)
	Host   string              // where the agent runs: "hostname[pid]"
	Worker string              // the worker that failed, "name[pid]", when the agent knows it
}

func (e *Error) Error() string {
	var b strings.Builder
	where := e.Host
	if where == "" {
		where = e.Agent
	} else if e.Agent != "" {
		where += " " + e.Agent
	}
	if e.Code == CodeRaised {
		fmt.Fprintf(&b, "remote: %q raised %s: %s (agent %s", e.Method, e.Remote.Type, e.Remote.Message, where)
	} else {
		fmt.Fprintf(&b, "remote: %q failed on agent %s: %s: %s (code %d", e.Method, where, e.Remote.Type, e.Remote.Message, e.Code)
	}
	if e.Worker != "" {
		fmt.Fprintf(&b, ", worker %s", e.Worker)
	}
	b.WriteString(")")
	return b.String()
}

// Unwrap returns the *bridge.RemoteError when the worker's handler raised, else nil.
func (e *Error) Unwrap() error {
	if e.Code == CodeRaised {
		return e.Remote
	}
	return nil
}

// Is matches the bridge's sentinels as the doc comment of Error says.
func (e *Error) Is(target error) bool {
	typ := e.Remote.Type
	switch e.Code {
	case CodeWorkerDied:
		return (target == bridge.ErrExited && typ != TypeProtocol) || (target == bridge.ErrProtocol && typ == TypeProtocol)
	case CodeNotRun:
		switch target {
		case bridge.ErrSaturated:
			return typ == TypeSaturated
		case bridge.ErrStopping:
			return typ == TypeStopping
		case bridge.ErrCrashLooping:
			return typ == TypeCrashLooping
		case bridge.ErrUnavailable:
			return typ == TypeUnavailable || typ == TypeCrashLooping
		}
	case CodeTimeout:
		return target == context.DeadlineExceeded || (target == bridge.ErrExecTimeout && typ == TypeExecTimeout)
	case CodeCancelled:
		return target == context.Canceled
	case CodeTooLarge:
		return target == ErrPayloadTooLarge
	case CodeBadRequest:
		return target == bridge.ErrProtocol
	}
	return false
}

// PayloadError reports a body above the NATS server's maximum payload that could not travel
// through the object store either (JetStream is not enabled on the server, or the agent
// could not reach it).
type PayloadError struct {
	What  string // "params of \"add\"", "the result of \"add\"", "a message"
	Size  int64  // its size in bytes, as it would travel
	Limit int64  // the server's max_payload; a body travels in a message up to Limit-1024 bytes
	Err   error  // why the object store could not take it, or nil
}

func (e *PayloadError) Error() string {
	s := fmt.Sprintf("remote: %s: %d bytes, above the NATS server's max_payload of %d bytes (less %d for headers); "+
		"raise max_payload in the server's configuration (at most 64 MB), or enable JetStream on the server so "+
		"that larger bodies travel through its object store", e.What, e.Size, e.Limit, headerRoom)
	if e.Err != nil {
		s += " (the object store: " + e.Err.Error() + ")"
	}
	return s
}

// Is makes errors.Is(err, ErrPayloadTooLarge) true.
func (e *PayloadError) Is(target error) bool { return target == ErrPayloadTooLarge }

// Unwrap returns why the object store could not take the body.
func (e *PayloadError) Unwrap() error { return e.Err }

// callErr is an error of a call that names the call's method.
type callErr struct {
	method string
	err    error
}

// callError wraps err with the method of the call it ended.
func callError(method string, err error) error { return &callErr{method, err} }

func (e *callErr) Error() string {
	return fmt.Sprintf("remote: call %q: %s", e.method, strings.TrimPrefix(e.err.Error(), "remote: "))
}

func (e *callErr) Unwrap() error { return e.err }
