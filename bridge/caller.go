package bridge

import "context"

// Caller is what code that calls into children needs, whoever serves the calls: a Conn (one
// session over any stream), a Process (one child), a Pool (supervised workers) or a remote
// pool (workers behind NATS, package remote) all satisfy it, so code written against one
// runs against the others.
type Caller interface {
	// Call calls method with params (a slice or array whose elements become the handler's
	// positional arguments; nil means none) and decodes the result into result (a pointer,
	// or nil to drop it). It returns when the answer arrives, the call fails, or ctx ends
	// (then the other side is told with $cancel).
	Call(ctx context.Context, method string, params, result any, opts ...CallOption) error
	// Send sends v to the other side's on('message') listeners, like process.send in Node.
	Send(ctx context.Context, v any) error
	// Notify sends the notification method with params; names starting with '$' are
	// reserved for the protocol.
	Notify(ctx context.Context, method string, params ...any) error
}

var (
	_ Caller = (*Conn)(nil)
	_ Caller = (*Process)(nil)
	_ Caller = (*Pool)(nil)
)

// CallOption modifies one call.
type CallOption func(*callOptions)

type callOptions struct {
	idempotent bool
	worker     *Worker
}

// Worker names the process that ran a call (see ReportWorker).
type Worker struct {
	Name string // the child's name, such as "compute.py#1" in a pool
	Pid  int    // its process id, or 0 when it is not a local process
}

func collectCallOptions(opts []CallOption) callOptions {
	if len(opts) == 0 {
		return callOptions{} // without the allocation that passing &co to an option costs
	}
	var co callOptions
	for _, o := range opts {
		if o != nil {
			o(&co)
		}
	}
	return co
}

// Idempotent marks a call as safe to run twice. A Pool (or a remote pool) whose worker dies
// while running it retries it once on another worker; a Conn or a Process, which has no
// other worker, ignores it. A call that never started (refused with Stopping because its
// worker was stopping) is retried whether or not it is idempotent.
func Idempotent() CallOption { return func(o *callOptions) { o.idempotent = true } }

// ReportWorker makes a call fill *w with the worker that ran it (the one that answered, or
// the last one tried when it failed): for access logs and debugging. A Conn has no worker
// and leaves *w alone.
func ReportWorker(w *Worker) CallOption { return func(o *callOptions) { o.worker = w } }

// report fills the caller's Worker, if it asked for one.
func (o callOptions) report(name string, pid int) {
	if o.worker != nil {
		*o.worker = Worker{Name: name, Pid: pid}
	}
}

// CallSettings is what a list of CallOptions asks for: for Callers written outside this
// package (package remote) that must honour the same options.
type CallSettings struct {
	Idempotent bool    // Idempotent was given
	Worker     *Worker // ReportWorker's target, or nil
}

// ReadCallOptions returns what opts ask for.
func ReadCallOptions(opts ...CallOption) CallSettings {
	co := collectCallOptions(opts)
	return CallSettings{Idempotent: co.idempotent, Worker: co.worker}
}
