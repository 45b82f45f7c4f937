// Package bridge forks child processes written in any language and talks to them with the
// polyfork protocol (see protocol/SPEC.md): messages both ways, calls both ways, and a
// graceful stop that never leaves anything running.
//
// Three types carry it, each built on the one before, and all three satisfy Caller:
//
//   - Conn is one session over any byte stream (a child's pipes, a socket, a net.Pipe):
//     calls both ways, messages, notifications, cancellation. It knows nothing about
//     processes; package bridge/child serves a Conn from a Go program that is a child.
//   - Process is a Conn over a child process: spawn, the $ready handshake, the relay of
//     the child's stderr, and the stop that asks, then forces.
//   - Pool runs N Processes from one command behind one Call, like Node's cluster:
//     least-busy dispatch with a bounded queue, supervision with backoff and crash-loop
//     detection, and limits (jobs, lifetime, idle time, memory, execution time). With
//     WithListeners it is also the seed's cluster for any language: it binds listening
//     sockets once and passes them to every worker (systemd's LISTEN_FDS convention), and
//     its workers may be ordinary servers that do not speak the protocol (ChannelNone).
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
// Every constructor takes the same kind of Option, validated once (an error matching
// ErrInvalidOption lists every bad one). Every method of Conn, Process and Pool is safe
// for concurrent use. Errors can be told apart with errors.Is and errors.As: *RemoteError
// (the other side's handler raised), *ExitError (the child exited; its status and last
// stderr lines), *ProtocolError (the other side broke the protocol; what it sent,
// quoted), ErrUnsendable (the caller's params cannot be sent; nothing was), the pool's
// ErrSaturated, ErrUnavailable, *CrashLoopError and ErrExecTimeout, and
// context.DeadlineExceeded or context.Canceled for a call whose context ended.
//
// # Platforms
//
// Linux is the reference: children get a parent-death signal (so a host killed with
// SIGKILL leaves no child), descriptors the host opened without close-on-exec are kept
// from children, pipes are enlarged to 1 MiB, and RSS limits read /proc. On macOS and the
// BSDs the same code runs without those four; consoles (WithConsole) and resource limits
// (WithRlimits) work on every Unix system. On Windows the package builds and runs
// children, but there are no process groups to signal (a child's own children are not
// ended with it), every signal kills at once, and WithConsole and WithRlimits are invalid.
//
// # Files
//
// Each file holds one concept:
//
//	caller.go           the Caller interface and CallOption
//	options.go          Option, its validation (OptionError), and the Conn's options
//	errors.go           every error type and sentinel
//	handler.go          Handler and NotificationHandler: what runs the other side's calls
//	args.go             Args: the params a handler receives
//	conn.go             Conn: construction, Call, Send, Notify, Close, the session's end
//	calls.go            the table of this side's calls waiting for their answers
//	read.go             the reader: frames in, responses delivered, notifications queued
//	lead.go             who reads: the background reader, or a caller reading its own answer
//	serve.go            running the other side's requests and answering them
//	inbox.go            what waits for handlers, and the reader's backpressure
//	writer.go           frames out: one writer, coalesced, bounded, context-aware
//	handshake.go        ReadyInfo and ReadReady: the $ready handshake
//	process.go          Process: start, supervision of one child, accessors
//	process_options.go  the Process's options (environment, channel, grace periods...)
//	nochannel.go        ChannelNone: children that do not speak the protocol
//	spawn.go            building and starting the child's command and pipes
//	stop.go             Close, Shutdown, Terminate, Kill: asking, then forcing
//	relay.go            the child's stderr (and stdout) relayed line by line
//	console.go          WithConsole and Console: a pseudo-terminal for the child, attachable
//	console_text.go     what a terminal shows of a line: control sequences removed
//	console_unix.go     opening the pseudo-terminal (creack/pty), the child's session
//	console_windows.go  Windows: no consoles
//	rlimit.go           WithRlimits: resource limits set by a shell before the program runs
//	sys_linux.go        Linux: parent-death signal, group kill after waitid, pipe size
//	sys_unix.go         other Unix systems
//	sys_windows.go      Windows
//	pool.go             Pool: construction, Call, Send, Broadcast, Reload, Close
//	pool_options.go     the Pool's options
//	listen.go           WithListeners: the listening sockets a Pool shares with its workers
//	listen_unix.go      binding, adopting (fd:N, systemd) and holding them; Unix systems
//	listen_linux.go     SO_REUSEPORT and the accept queue, on Linux (listen_other.go elsewhere)
//	listen_windows.go   Windows: no sockets to pass
//	pool_listen.go      the Pool's sockets: opened in NewPool, passed to each slot, closed last
//	supervisor.go       one goroutine per worker slot: start, restart, backoff, crash loop
//	dispatch.go         choosing a worker, the wait queue
//	limits.go           execution timeout, memory, idle and lifetime limits
//	stats.go            Stats: a snapshot of the workers
//	worker.go           what the Pool needs of a worker; worker states
//	clock.go            the clock supervision runs on (replaced in tests)
package bridge
