package bridge

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/polyfork/polyfork/protocol"
)

// Sentinels matched with errors.Is.
var (
	// ErrClosed is returned by calls that were not sent: made after Close, Shutdown,
	// Terminate or Kill (of a Process, a Pool or a Conn). A call already sent when its child
	// exits gets the exit (*ExitError) instead, even when the host ended the child. (A
	// Conn's own Close fails the calls in flight with ErrClosed: no child's exit to report.)
	ErrClosed = errors.New("bridge: closed")
	// ErrExited is matched by every *ExitError.
	ErrExited = errors.New("bridge: child exited")
	// ErrProtocol is matched by every *ProtocolError.
	ErrProtocol = errors.New("bridge: the other side broke the protocol")
	// ErrStartTimeout is matched when a child did not send $ready within the start timeout.
	ErrStartTimeout = errors.New("bridge: child did not become ready in time")
	// ErrStrayOutput is matched by the *ProtocolError of a child whose first bytes on stdout
	// are something it printed before its polyfork library took stdout over, followed by
	// its $ready frame.
	ErrStrayOutput = errors.New("bridge: the child printed to stdout before its library took it over")
	// ErrStopping is matched by the *RemoteError a child answers a request with when the
	// request arrived after $stop: the handler never ran, so the call may be sent elsewhere.
	ErrStopping = errors.New("bridge: the child is stopping and did not run the call")
	// ErrUnsendable is matched when a call, message or notification was refused before
	// sending because the other side would have to reject it (a method name that is empty,
	// starts with '$' or is not UTF-8, params nested deeper than 128 levels or holding more values than the other
	// side's limit, a frame above its maximum size) or a Go value has no msgpack form. The
	// fault is the caller's input; nothing was sent and the connection is unharmed. It is
	// protocol.ErrUnsendable.
	ErrUnsendable = protocol.ErrUnsendable
	// ErrPartlySent is matched, with the context's error, when a call, message or
	// notification's context ended while its frame was being written: the rest is written
	// in the background, so it may still arrive (a call is then given up with $cancel).
	ErrPartlySent = errors.New("bridge: the context ended while the frame was being written; it may still arrive")
)

// errNilContext is what every method that takes a context returns when given nil, instead
// of panicking part way (a nil context is the caller's bug; the session stays usable).
var errNilContext = errors.New("bridge: the context is nil: pass context.Background() when there is no deadline")

// The errors of the methods of a Conn, Process or Pool that its constructor did not make (a
// zero value, such as a struct field of type bridge.Pool): they have no session, child or
// workers, so they do nothing and say so. Those methods used to panic, a zero Process's
// Close on a goroutine of its own, beyond any recover.
var (
	errZeroConn    = errors.New("bridge: this Conn is a zero value, not made by NewConn: it has no session")
	errZeroProcess = errors.New("bridge: this Process is a zero value, not made by Start: it has no child")
	errZeroPool    = errors.New("bridge: this Pool is a zero value, not made by NewPool: it has no workers")
)

// Pool errors, matched with errors.Is.
var (
	// ErrSaturated: every worker is busy and the queue is full, or the call's context
	// ended while it waited in the queue. The call never reached a worker.
	ErrSaturated = errors.New("bridge: pool saturated")
	// ErrUnavailable: no worker is ready and the last start failed, or the pool is
	// crash-looping. The call never reached a worker.
	ErrUnavailable = errors.New("bridge: no worker available")
	// ErrCrashLooping is matched by the error calls get while the pool is crash-looping;
	// it also matches ErrUnavailable.
	ErrCrashLooping = errors.New("bridge: pool is crash-looping")
	// ErrExecTimeout is matched by a call that exceeded the pool's execution timeout; it
	// also matches context.DeadlineExceeded.
	ErrExecTimeout = errors.New("bridge: call exceeded the execution timeout")
)

// RemoteError is an error raised by a handler on the other side: in the child for
// Process.Call, or returned by a host handler (then the child sees its fields).
type RemoteError struct {
	// Method is the method that was called (set on errors returned by Call).
	Method string
	// Type names the kind of error: the exception class ("ValueError",
	// "InvalidArgumentException", "TypeError") or a reserved type such as "MethodNotFound".
	Type string
	// Message is the human-readable text.
	Message string
	// Traceback is the raiser's stack trace as text, in its language's format, or "".
	Traceback string
	// Data is raw msgpack for the optional structured data, or nil. Decode it with
	// protocol.Unmarshal.
	Data []byte
}

// NewError returns a *RemoteError with the given type and message, for host handlers that
// want the child to see a specific error type. data, if not nil, is encoded as the error's
// data; encoding failures are reported in the message.
func NewError(typ, message string, data any) *RemoteError {
	e := &RemoteError{Type: typ, Message: message}
	if data != nil {
		if b, err := protocol.Marshal(data); err == nil {
			e.Data = b
		} else {
			e.Message += " (error data could not be encoded: " + err.Error() + ")"
		}
	}
	return e
}

func (e *RemoteError) Error() string {
	if e.Method != "" {
		return fmt.Sprintf("bridge: %s raised %s: %s", protocol.QuoteName(e.Method), e.Type, e.Message)
	}
	return fmt.Sprintf("bridge: %s: %s", e.Type, e.Message)
}

// Is makes errors.Is(err, ErrStopping) true for the Stopping error of SPEC section 6.
func (e *RemoteError) Is(target error) bool {
	return target == ErrStopping && e.Type == protocol.TypeStopping
}

// ExitError reports that a child exited, with how and the last lines it wrote to stderr.
type ExitError struct {
	// Name and Pid identify the child.
	Name string
	Pid  int
	// Code is the exit status, or -1 if a signal ended the child.
	Code int
	// Signal is the signal that ended the child, or 0.
	Signal syscall.Signal
	// Stderr holds the last lines the child wrote to stderr (at most 20), oldest first.
	Stderr []string
	// Phase says when it happened: "before $ready" during start, or "" afterwards.
	Phase string
	// addressSpace is the child's address space limit (WithRlimits), named in the message:
	// a runtime short of address space dies in ways that do not say so (Node: a
	// segmentation fault, nothing on stderr).
	addressSpace int64
}

func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bridge: child %s (pid %d) ", e.Name, e.Pid)
	if e.Signal != 0 {
		fmt.Fprintf(&b, "was killed by signal %d (%s)", int(e.Signal), e.Signal)
	} else {
		fmt.Fprintf(&b, "exited with status %d", e.Code)
	}
	if e.Phase != "" {
		b.WriteString(" " + e.Phase)
	}
	if e.addressSpace > 0 && e.mayBeShortOfMemory() {
		fmt.Fprintf(&b, ", under an address space limit of %s (WithRlimits, -rlimit-as), which may be too little for its runtime (Node needs about 1 GiB)", sizeText(e.addressSpace))
	}
	b.WriteString(stderrTail(e.Stderr))
	return b.String()
}

// mayBeShortOfMemory reports whether the child ended as one short of address space can:
// a crash signal, or a failure status before $ready (Python's MemoryError at import, a
// shared library that cannot be mapped). A status after $ready, SIGKILL and SIGTERM are
// not such ends.
func (e *ExitError) mayBeShortOfMemory() bool {
	switch e.Signal {
	case syscall.SIGSEGV, syscall.SIGBUS, syscall.SIGABRT, syscall.SIGTRAP, syscall.SIGILL:
		return true
	case 0:
		return e.Phase != "" && e.Code != 0
	}
	return false
}

// sizeText writes n bytes in MiB when it is whole MiB, else in bytes.
func sizeText(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// stderrTail renders a child's last stderr lines for an error message.
func stderrTail(lines []string) string {
	if len(lines) == 0 {
		return "; it wrote nothing to stderr"
	}
	var b strings.Builder
	b.WriteString("; last stderr lines:")
	for _, l := range lines {
		b.WriteString("\n    ")
		b.WriteString(l)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrExited) true.
func (e *ExitError) Is(target error) bool { return target == ErrExited }

// ProtocolError reports that the other side (a child, or a Conn's peer) sent something the
// protocol does not allow. Err is usually a *protocol.Error, which quotes the bytes received.
type ProtocolError struct {
	Name string // the child's or peer's name, or ""
	Pid  int    // the child's pid, or 0 for a Conn's peer
	Err  error
}

func (e *ProtocolError) Error() string {
	switch {
	case e.Pid != 0:
		return fmt.Sprintf("bridge: child %s (pid %d) broke the protocol: %v", e.Name, e.Pid, e.Err)
	case e.Name != "":
		return fmt.Sprintf("bridge: %s broke the protocol: %v", e.Name, e.Err)
	}
	return fmt.Sprintf("bridge: the other side broke the protocol: %v", e.Err)
}

// Unwrap returns Err.
func (e *ProtocolError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrProtocol) true.
func (e *ProtocolError) Is(target error) bool { return target == ErrProtocol }

// VersionError reports a child that speaks another protocol version.
type VersionError struct {
	Name  string
	Pid   int
	Child int // the version the child announced
	Host  []int
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("bridge: child %s (pid %d) speaks polyfork protocol %d; this host speaks %v", e.Name, e.Pid, e.Child, e.Host)
}

// StartTimeoutError reports a child that sent no $ready within the start timeout; it was
// killed. It matches ErrStartTimeout.
type StartTimeoutError struct {
	Name    string
	Pid     int
	Timeout time.Duration
	Stderr  []string // the last lines it wrote to stderr, oldest first
}

func (e *StartTimeoutError) Error() string {
	return fmt.Sprintf("bridge: child %s (pid %d) sent no %s within %v%s", e.Name, e.Pid, protocol.MethodReady, e.Timeout, stderrTail(e.Stderr))
}

// Is makes errors.Is(err, ErrStartTimeout) true.
func (e *StartTimeoutError) Is(target error) bool { return target == ErrStartTimeout }

// StartError reports a child that could not be started at all: the executable is missing,
// not executable, or the working directory does not exist.
type StartError struct {
	Argv []string
	Err  error
}

func (e *StartError) Error() string {
	argv := make([]string, len(e.Argv))
	for i, a := range e.Argv {
		if len(a) > 100 {
			a = a[:100] + "..."
		}
		argv[i] = a
	}
	return fmt.Sprintf("bridge: cannot start %q: %v", argv, e.Err)
}

// Unwrap returns Err.
func (e *StartError) Unwrap() error { return e.Err }

// CrashLoopError reports a pool whose workers keep failing.
type CrashLoopError struct {
	Failures int           // failures counted (decayed) when the pool gave up waiting
	Window   time.Duration // the failure count's half-life window
	Last     error         // the last exit or start failure, with the worker's stderr lines
}

func (e *CrashLoopError) Error() string {
	return fmt.Sprintf("bridge: pool is crash-looping: %d worker failures within about %v; the last: %v", e.Failures, e.Window, e.Last)
}

// Is makes errors.Is match ErrCrashLooping and ErrUnavailable.
func (e *CrashLoopError) Is(target error) bool {
	return target == ErrCrashLooping || target == ErrUnavailable
}

// Unwrap returns the last failure.
func (e *CrashLoopError) Unwrap() error { return e.Last }
