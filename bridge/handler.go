package bridge

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/polyfork/polyfork/protocol"
)

// MethodMessage is the notification that carries send(value) / on('message').
const MethodMessage = protocol.MethodMessage

// Handler serves a request from the other side. Its result is encoded as the response; a
// returned error becomes an error map (a *RemoteError keeps its type, message, traceback and
// data; an error with an ErrorType() string method gets that type; any other error has type
// "Error"; a typed nil, such as a nil *RemoteError, is an error that says so). ctx is
// cancelled when the other side sends $cancel for the request or the session ends. A panic is recovered and reported to the other side as an error of type
// "panic", and so is runtime.Goexit (t.FailNow in a test's handler). Each request runs on a
// goroutine of its own, so handlers may call the other side (and a Pool's handlers the
// pool: see Pool.Call), best with ctx, which tells the pool that the call comes from the
// handler.
type Handler func(ctx context.Context, args Args) (any, error)

// NotificationHandler receives a notification from the other side. Notification handlers
// run one at a time, in the order the other side sent them, on one goroutine: a slow handler
// delays later notifications, never responses to calls (see Conn for how far notifications
// may fall behind). A panic is recovered and logged; after runtime.Goexit (t.FailNow in a
// test's listener) another goroutine handles the later notifications.
type NotificationHandler func(args Args)

// messageHandler adapts a func(any) to the "message" notification ([value]).
func messageHandler(fn func(v any)) NotificationHandler {
	return func(args Args) {
		v, err := args.Value(0)
		if err != nil {
			v = nil
		}
		fn(v)
	}
}

// runHandler calls h, turning a panic into an error.
func runHandler(ctx context.Context, h Handler, args Args) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &RemoteError{Type: "panic", Message: fmt.Sprint(r), Traceback: string(debug.Stack())}
		}
	}()
	return h(ctx, args)
}

// errorValue turns a handler's error into an error map. A nil *RemoteError returned as the
// error (a typed nil: not a nil error) and an error whose own methods panic (Error on
// another typed nil pointer) become error maps that say so: they crashed the host, on the
// handler's goroutine, after the handler's panics were recovered.
func errorValue(err error) (ev *protocol.ErrorValue) {
	defer func() {
		if r := recover(); r != nil {
			ev = &protocol.ErrorValue{Type: "Error",
				Message: fmt.Sprintf("the handler returned an error of type %T whose methods panicked: %v", err, r)}
		}
	}()
	var re *RemoteError
	if errors.As(err, &re) {
		if re == nil {
			return &protocol.ErrorValue{Type: "Error",
				Message: "the handler returned a nil *bridge.RemoteError as its error (a typed nil pointer is not a nil error)"}
		}
		return &protocol.ErrorValue{Type: re.Type, Message: re.Message, Traceback: re.Traceback, Data: re.Data}
	}
	typ := "Error"
	var typed interface{ ErrorType() string }
	if errors.As(err, &typed) {
		typ = typed.ErrorType()
	}
	return &protocol.ErrorValue{Type: typ, Message: err.Error(), Traceback: errorChain(err)}
}

// errorChain describes an error and the errors it wraps, one per line with its Go type: a
// Go error's equivalent of a traceback.
func errorChain(err error) string {
	var b strings.Builder
	for depth := 0; err != nil && depth < 16; depth++ {
		if depth > 0 {
			b.WriteString("\ncaused by ")
		}
		fmt.Fprintf(&b, "%T: %s", err, err.Error())
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			if es := u.Unwrap(); len(es) > 0 {
				err = es[0]
			} else {
				err = nil
			}
		default:
			err = nil
		}
	}
	return b.String()
}
