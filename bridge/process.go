package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/polyfork/polyfork/protocol"
)

// ReadyInfo is what a child announced in its $ready handshake.
type ReadyInfo struct {
	Protocol int    `msgpack:"protocol"`
	Lang     string `msgpack:"lang"`
	Pid      int    `msgpack:"pid"`
	Lib      string `msgpack:"lib"`
}

// Process is a running child that speaks the polyfork protocol.
//
// A Process owns five goroutines while the child runs (reading stdout, relaying stderr,
// running notification handlers, waiting for the exit, supervising) plus one per request
// from the child being handled. All but the handlers' have ended when Done is closed; a
// host handler still running then has its context cancelled, and its answer goes nowhere.
// Every method is safe for concurrent use.
type Process struct {
	cfg   *config
	argv  []string
	name  string
	cmd   *exec.Cmd
	pid   int
	peer  *peer
	relay *stderrRelay

	stdin, stdout, stderr *os.File

	readyCh    chan struct{}
	ready      ReadyInfo
	readerDone chan struct{}
	exited     chan struct{}
	done       chan struct{}

	mu      sync.Mutex
	reason  error // why the host ended the child, if it did
	closing bool
	err     error // the final error, set before done is closed

	closeOnce sync.Once
}

// Start forks the child argv[0] with arguments argv[1:] (no shell is involved), waits for
// its $ready handshake and returns the running Process.
//
// ctx bounds the start only; once Start has returned, cancelling it has no effect. If the
// child cannot be started, exits, breaks the protocol, announces another protocol version,
// or stays silent past the start timeout, Start returns an error (*StartError, *ExitError
// with the child's last stderr lines, *ProtocolError, *VersionError, or one matching
// ErrStartTimeout) and nothing is left running.
func Start(ctx context.Context, argv []string, opts ...Option) (*Process, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(cfg)
	}
	if len(argv) == 0 || argv[0] == "" {
		cfg.fail("the command is empty")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	name := cfg.name
	if name == "" {
		name = defaultName(argv)
	}

	var files []*os.File // every pipe end, closed on failure
	pipe := func() (r, w *os.File) {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, nil
		}
		files = append(files, r, w)
		return r, w
	}
	inR, inW := pipe()
	outR, outW := pipe()
	errR, errW := pipe()
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	if len(files) != 6 {
		closeAll()
		return nil, &StartError{Argv: argv, Err: errors.New("cannot create pipes (out of file descriptors?)")}
	}
	growPipe(inW)
	growPipe(outW)

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(),
		"POLYFORK_PROTOCOL="+strconv.Itoa(protocol.Version),
		"POLYFORK_MAX_FRAME_SIZE="+strconv.Itoa(cfg.maxFrame))
	cmd.Env = append(cmd.Env, cfg.env...)
	cmd.Dir = cfg.dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	cmd.SysProcAttr = sysProcAttr()
	err := spawn(cmd)
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		closeAll()
		return nil, &StartError{Argv: argv, Err: err}
	}

	p := &Process{
		cfg:        cfg,
		argv:       argv,
		name:       name,
		cmd:        cmd,
		pid:        cmd.Process.Pid,
		stdin:      inW,
		stdout:     outR,
		stderr:     errR,
		readyCh:    make(chan struct{}),
		readerDone: make(chan struct{}),
		exited:     make(chan struct{}),
		done:       make(chan struct{}),
	}
	p.relay = newStderrRelay(errR, name, p.pid, cfg)
	p.peer = newPeer(outR, inW, cfg)
	p.peer.onReady = p.handshake
	p.peer.onReadEnd = p.readEnded
	p.peer.onWriteErr = p.writeFailed
	p.peer.logf = p.logf
	go p.reap()
	go p.supervise()
	p.peer.start()

	timer := time.NewTimer(cfg.startTimeout)
	defer timer.Stop()
	select {
	case <-p.readyCh:
		return p, nil
	case <-p.done:
		select {
		case <-p.readyCh:
			return p, nil // ready, then gone: the caller learns it from the first call
		default:
		}
		return nil, p.err
	case <-timer.C:
		p.abort(fmt.Errorf("%w: %s (pid %d) sent no %s within %v%s", ErrStartTimeout, name, p.pid,
			protocol.MethodReady, cfg.startTimeout, stderrTail(p.relay.lines())))
	case <-ctx.Done():
		p.abort(fmt.Errorf("bridge: starting %s (pid %d): %w", name, p.pid, ctx.Err()))
	}
	<-p.done
	return nil, p.err
}

// growPipe enlarges a pipe's kernel buffer to 1 MiB where the system allows it, so that
// large messages cross in fewer wake-ups. Failure is harmless.
func growPipe(f *os.File) {
	const fSETPIPESZ = 1031
	if sc, err := f.SyscallConn(); err == nil {
		_ = sc.Control(func(fd uintptr) {
			_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, fSETPIPESZ, 1<<20)
		})
	}
}

// handshake checks the child's $ready params.
func (p *Process) handshake(params []byte) error {
	var args []ReadyInfo
	if err := protocol.Unmarshal(params, &args); err != nil || len(args) != 1 {
		return fmt.Errorf("%s params must be [{\"protocol\": 1, \"lang\": str, \"pid\": int, \"lib\": str}], got %s",
			protocol.MethodReady, quoteValue(params))
	}
	info := args[0]
	if info.Protocol == 0 {
		return fmt.Errorf("%s has no \"protocol\" version: %s", protocol.MethodReady, quoteValue(params))
	}
	if info.Protocol != protocol.Version {
		return &VersionError{Name: p.name, Pid: p.pid, Child: info.Protocol, Host: []int{protocol.Version}}
	}
	p.ready = info
	close(p.readyCh)
	return nil
}

// readEnded is called once by the peer's reader when it stops.
func (p *Process) readEnded(err error) {
	var verr *VersionError
	switch {
	case errors.Is(err, io.EOF):
	case errors.Is(err, os.ErrClosed):
		// the host closed stdout: the reason was set by whoever did
	case errors.As(err, &verr):
		p.setReason(verr)
		go p.stop()
	default:
		p.abort(&ProtocolError{Name: p.name, Pid: p.pid, Err: err})
	}
	close(p.readerDone)
}

// writeFailed is called when writing to the child's stdin fails: the child closed it, or
// died. A child that closed its stdin but keeps running cannot be talked to: stop it.
func (p *Process) writeFailed(err error) {
	go func() {
		t := time.NewTimer(p.cfg.stopGrace)
		defer t.Stop()
		select {
		case <-p.exited:
		case <-t.C:
			p.abort(&ProtocolError{Name: p.name, Pid: p.pid,
				Err: fmt.Errorf("writing to its stdin failed (%v) while it kept running", err)})
		}
	}()
}

// setReason records why the host ends the child; the first reason wins.
func (p *Process) setReason(err error) {
	p.mu.Lock()
	if p.reason == nil {
		p.reason = err
	}
	p.mu.Unlock()
}

// abort ends the child at once for reason.
func (p *Process) abort(reason error) {
	p.setReason(reason)
	p.signal(syscall.SIGKILL)
}

// signal sends sig to the child's process group, unless the child is gone.
func (p *Process) signal(sig syscall.Signal) {
	select {
	case <-p.exited:
	default:
		_ = syscall.Kill(-p.pid, sig)
	}
}

// reap waits for the child to exit and cleans up its process group.
func (p *Process) reap() {
	_ = waitAndKillGroup(p.cmd)
	close(p.exited)
}

// supervise waits for both the exit and the end of stdout, then settles the final error and
// releases everything.
func (p *Process) supervise() {
	select {
	case <-p.readerDone:
		if p.getReason() == nil {
			// stdout ended: the child is exiting. One that closed stdout and lives on is broken.
			t := time.NewTimer(p.cfg.stopGrace)
			select {
			case <-p.exited:
			case <-t.C:
				p.abort(&ProtocolError{Name: p.name, Pid: p.pid, Err: errors.New("it closed its stdout but kept running")})
			}
			t.Stop()
		}
		<-p.exited
	case <-p.exited:
		// Let the reader take what the child wrote before it exited; a grandchild that
		// escaped the process group may hold stdout open, so this wait is bounded.
		t := time.NewTimer(time.Second)
		select {
		case <-p.readerDone:
		case <-t.C:
			p.stdout.Close()
			<-p.readerDone
		}
		t.Stop()
	}
	t := time.NewTimer(time.Second)
	select {
	case <-p.relay.done:
	case <-t.C:
		p.stderr.Close()
		<-p.relay.done
	}
	t.Stop()

	final, forCalls := p.finalError()
	p.peer.fail(forCalls)
	p.stdin.Close()
	p.stdout.Close()
	p.stderr.Close()
	p.mu.Lock()
	p.err = final
	p.mu.Unlock()
	close(p.done)
}

func (p *Process) getReason() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reason
}

// finalError returns what Wait reports (nil for a clean exit) and what calls still in
// flight get (never nil).
func (p *Process) finalError() (final, forCalls error) {
	p.mu.Lock()
	reason, closing := p.reason, p.closing
	p.mu.Unlock()
	if reason != nil {
		return reason, reason
	}
	exit := p.exitError()
	select {
	case <-p.readyCh:
	default:
		exit.Phase = "before " + protocol.MethodReady
		return exit, exit
	}
	if exit.Code == 0 {
		if closing {
			return nil, ErrClosed
		}
		return nil, exit
	}
	return exit, exit
}

// exitError describes how the child ended.
func (p *Process) exitError() *ExitError {
	e := &ExitError{Name: p.name, Pid: p.pid, Code: -1, Stderr: p.relay.lines()}
	if st := p.cmd.ProcessState; st != nil {
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			e.Signal = ws.Signal()
		} else {
			e.Code = st.ExitCode()
		}
	}
	return e
}

func (p *Process) logf(format string, args ...any) {
	line := LogLine{Name: p.name, Pid: p.pid, Text: "polyfork: " + fmt.Sprintf(format, args...)}
	switch {
	case p.cfg.logFunc != nil:
		p.cfg.logFunc(line)
	case p.cfg.stderr != nil:
		fmt.Fprintf(p.cfg.stderr, "%s[%d] %s\n", line.Name, line.Pid, line.Text)
	}
}

// stop asks the child to finish, then forces it: $stop; after the first grace period, end
// of file on stdin and SIGTERM to the process group; after the second, SIGKILL.
func (p *Process) stop() {
	deadline := time.Now().Add(p.cfg.stopGrace)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	_ = p.peer.sendNotification(ctx, protocol.MethodStop, nil)
	select {
	case <-p.exited:
		cancel()
		return
	case <-ctx.Done():
	}
	cancel()
	p.stdin.Close()
	p.signal(syscall.SIGTERM)
	t := time.NewTimer(p.cfg.killGrace)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		p.signal(syscall.SIGKILL)
	}
}

// Close stops the child gracefully and waits until it is gone: it sends $stop, so the child
// finishes the work in flight and exits; then, after the grace periods (WithGracePeriods),
// it sends SIGTERM and SIGKILL to the child's process group. Calls made after Close fail
// with ErrClosed; calls in flight get their answers if the child gives them in time.
//
// Close returns nil if the child exited with status 0, else the error that describes how it
// ended (the same as Wait). It is safe to call more than once, and concurrently.
func (p *Process) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closing = true
		p.mu.Unlock()
		go p.stop()
	})
	<-p.done
	return p.err
}

// Kill sends SIGKILL to the child's process group at once, without waiting; use Wait or
// Done to learn when everything is released.
func (p *Process) Kill() error {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	p.signal(syscall.SIGKILL)
	return nil
}

// Wait waits until the child has exited and every resource is released, and returns nil if
// it exited with status 0, else an *ExitError, *ProtocolError or the reason the host ended
// it.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// Done is closed when the child has exited and every resource is released.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err returns what Wait would, without waiting: nil while the child runs.
func (p *Process) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// ExitCode returns the child's exit status once it has exited, or -1 while it runs or when
// a signal ended it (Wait's *ExitError then names the signal).
func (p *Process) ExitCode() int {
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// Pid returns the child's process id.
func (p *Process) Pid() int { return p.pid }

// Name returns the name that tags the child's logs and errors.
func (p *Process) Name() string { return p.name }

// Ready returns what the child announced in its handshake.
func (p *Process) Ready() ReadyInfo { return p.ready }

// StderrTail returns the last lines the child wrote to stderr (at most 20).
func (p *Process) StderrTail() []string { return p.relay.lines() }

// InFlight returns the number of calls to the child waiting for their answer.
func (p *Process) InFlight() int { return p.peer.pendingCount() }

// usable returns ErrClosed after Close or Kill; once the child is gone, calls get the final
// error from the peer.
func (p *Process) usable() error {
	p.mu.Lock()
	closing := p.closing
	p.mu.Unlock()
	if closing {
		return ErrClosed
	}
	return nil
}

// Call calls method in the child with params and decodes its result into result (a
// pointer, or nil to drop it). params is a slice or array whose elements become the
// handler's positional arguments; nil means none.
//
// Call is safe from many goroutines at once; calls are answered in any order. If ctx ends
// first, Call sends $cancel to the child and returns an error matching ctx.Err(). If the
// child's handler raised, the error is a *RemoteError; if the child exits or breaks the
// protocol while the call is in flight, the call fails at once with that *ExitError or
// *ProtocolError.
func (p *Process) Call(ctx context.Context, method string, params, result any) error {
	if err := p.usable(); err != nil {
		return err
	}
	return p.peer.call(ctx, method, params, result)
}

// Send sends v to the child's on('message') handler, like process.send in Node. It returns
// once the message is written to the child's stdin, or queued behind a write in progress
// (messages from one goroutine arrive in order); an error means it will not arrive.
func (p *Process) Send(ctx context.Context, v any) error {
	if err := p.usable(); err != nil {
		return err
	}
	return p.peer.sendNotification(ctx, protocol.MethodMessage, []any{v})
}

// Notify sends the notification method with params to the child. Names starting with '$'
// are reserved for the protocol.
func (p *Process) Notify(ctx context.Context, method string, params ...any) error {
	if err := p.usable(); err != nil {
		return err
	}
	if method == "" || method[0] == '$' {
		return fmt.Errorf("bridge: notification name %q is empty or reserved (names starting with '$' are the protocol's)", method)
	}
	return p.peer.sendNotification(ctx, method, params)
}

// Handle registers (or, with h nil, removes) a host method the child can call. To be sure
// the child cannot call it before it exists, use WithHandler at Start.
func (p *Process) Handle(method string, h Handler) { p.peer.setHandler(method, h) }

// OnMessage registers (or, with fn nil, removes) the handler for values the child sends.
func (p *Process) OnMessage(fn func(v any)) {
	if fn == nil {
		p.peer.setNotify(protocol.MethodMessage, nil)
		return
	}
	p.peer.setNotify(protocol.MethodMessage, messageHandler(fn))
}

// OnNotification registers (or, with fn nil, removes) the handler for the child's
// notifications named method.
func (p *Process) OnNotification(method string, fn NotificationHandler) {
	p.peer.setNotify(method, fn)
}

// terminate ends the child now: SIGTERM to its process group, then SIGKILL after grace.
// It does not wait.
func (p *Process) terminate(grace time.Duration) {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	p.signal(syscall.SIGTERM)
	go func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-p.exited:
		case <-t.C:
			p.signal(syscall.SIGKILL)
		}
	}()
}

// RSS returns the child's resident memory in bytes, read from /proc (Linux only). It counts
// the child itself, not processes it started.
func (p *Process) RSS() (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/statm")
	if err != nil {
		return 0, fmt.Errorf("bridge: reading the memory of %s (pid %d): %w", p.name, p.pid, err)
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return 0, fmt.Errorf("bridge: parsing /proc/%d/statm: %w", p.pid, err)
	}
	return resident * int64(os.Getpagesize()), nil
}

// gone reports whether the child has exited or the connection has failed.
func (p *Process) gone() bool {
	select {
	case <-p.exited:
		return true
	case <-p.peer.done:
		return true
	default:
		return false
	}
}
