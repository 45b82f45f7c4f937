// Package bridge forks child processes written in any language and talks to them with the
// polyfork protocol (see protocol/SPEC.md): messages both ways, calls both ways, and a
// graceful stop that never leaves anything running.
//
// A Process is one child:
//
//	p, err := bridge.Start(ctx, []string{"python3", "compute.py"},
//		bridge.OnMessage(func(v any) { log.Println("child says", v) }))
//	if err != nil { ... }
//	defer p.Close()
//	var sum int64
//	err = p.Call(ctx, "get_sum", []any{100000}, &sum)
//
// Every method of Process is safe for concurrent use. Errors can be told apart with
// errors.Is and errors.As: *RemoteError (the child's handler raised), *ExitError (the child
// exited; its status and last stderr lines), *ProtocolError (the child broke the protocol;
// what it sent, quoted), and context.DeadlineExceeded or context.Canceled for a call whose
// context ended.
package bridge
