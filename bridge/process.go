package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/polyfork/polyfork/protocol"
)

// Process is a running child that speaks the polyfork protocol: the child process, its
// $ready handshake, the relay of its stderr (and of its stdout when the channel is on
// descriptors of its own), the ask-then-force stop, and a Conn over its channel.
//
// A Process owns the Conn's goroutines (see Conn), one per relayed stream, one waiting for
// the exit and one supervising, plus one per request from the child being handled. All but
// the handlers' have ended when Done is closed. Every method is safe for concurrent use.
// A Process is made by Start: the methods of a zero Process do nothing (Done is closed),
// and those that return an error say so.
type Process struct {
	cfg     procConfig
	conn    *Conn
	argv    []string
	name    string
	cmd     *exec.Cmd
	pid     int
	ready   ReadyInfo
	tail    *tail
	logs    []*lineRelay
	files   []*os.File // the host's ends of the child's pipes (and terminal)
	console *Console   // WithConsole, or nil
	tty     *os.File   // the child's end of its console, closed once the child is reaped
	log     func(level slog.Level, msg string, args ...any)

	exited chan struct{} // closed when the child has been reaped
	done   chan struct{} // closed when everything is released

	mu      sync.Mutex
	reason  error // why the host ended the child, if it did
	closing bool  // Close, Shutdown, Terminate or Kill was called
	err     error // the final error, set before done is closed

	stopOnce sync.Once
	stopDone chan struct{} // closed when the stop sequence has finished

	relaysStuck atomic.Bool // waitRelays gave up on a relay stuck in the host's writer

	cutOnce sync.Once
	cut     chan struct{} // closed when what the child sent need no longer be handled (see cutBacklog)
}

// Start forks the child argv[0] with arguments argv[1:] (no shell is involved), waits for
// its $ready handshake and returns the running Process. It takes the options of a Conn and
// of a Process; pool options are an error.
//
// ctx bounds the start only; once Start has returned, cancelling it has no effect. If the
// child cannot be started, exits, breaks the protocol, announces another protocol version,
// or stays silent past the start timeout, Start returns an error (*StartError, *ExitError
// with the child's last stderr lines, *ProtocolError, *VersionError, or one matching
// ErrStartTimeout) and nothing is left running. Invalid options give an error matching
// ErrInvalidOption.
func Start(ctx context.Context, argv []string, opts ...Option) (*Process, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	cfg, err := newConfig(scopeProcess, opts)
	if err != nil {
		return nil, err
	}
	if err := checkChannelNone(cfg); err != nil {
		return nil, err
	}
	return startProcess(ctx, argv, cfg.conn, cfg.proc)
}

func startProcess(ctx context.Context, argv []string, connCfg connConfig, cfg procConfig) (*Process, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.Join(&OptionError{Option: "argv", Reason: "the command is empty"})
	}
	name := connCfg.name
	if name == "" {
		name = DefaultName(argv)
	}
	sp, err := spawn(ctx, argv, connCfg, cfg)
	if err != nil {
		return nil, err
	}
	p := &Process{
		cfg:      cfg,
		argv:     argv,
		name:     name,
		cmd:      sp.cmd,
		pid:      sp.cmd.Process.Pid,
		tty:      sp.tty,
		tail:     &tail{},
		files:    []*os.File{sp.fromCh, sp.toCh},
		exited:   make(chan struct{}),
		done:     make(chan struct{}),
		stopDone: make(chan struct{}),
		cut:      make(chan struct{}),
	}
	p.log = loggerFor(connCfg.logger, name, p.pid)
	out := cfg.stderr // for stdout and the console
	if cfg.stdoutSet {
		out = cfg.stdout
	}
	if sp.stderr != nil {
		p.files = append(p.files, sp.stderr)
		p.logs = append(p.logs, newLineRelay(sp.stderr, name, p.pid, "stderr", cfg.stderr, cfg.logFunc, p.tail, p.log))
	}
	if sp.stdout != nil {
		p.files = append(p.files, sp.stdout)
		p.logs = append(p.logs, newLineRelay(sp.stdout, name, p.pid, "stdout", out, cfg.logFunc, p.tail, p.log))
	}
	if sp.console != nil {
		var relay *lineRelay
		p.files = append(p.files, sp.console)
		p.console, relay = newConsole(sp.console, sp.tty, name, p.pid, cfg.console, out, cfg.logFunc, p.tail, p.log)
		p.logs = append(p.logs, relay)
	}
	go p.reap()
	if sp.console != nil && cfg.console.OnStart != nil {
		if err := onStart(cfg.console.OnStart, p.console); err != nil {
			p.cleanup(err)
			return nil, err
		}
	}
	if cfg.channel == ChannelNone { // nothing to wait for: see nochannel.go
		go p.supervise()
		p.log(slog.LevelInfo, "child started", "channel", "none")
		return p, nil
	}

	info, err := p.handshake(ctx, sp.fromCh, connCfg.maxFrame)
	if err != nil {
		p.cleanup(err)
		return nil, err
	}
	p.ready = info
	connCfg.name = name
	connCfg.onEnd = p.streamEnded
	p.conn = newConn(sp.fromCh, sp.toCh, connCfg)
	go p.supervise()
	p.log(slog.LevelInfo, "child started", "lang", info.Lang, "lib", info.Lib)
	return p, nil
}

// onStart calls ConsoleOptions.OnStart; a panic in it fails the start (in a pool's
// goroutine it ended the host).
func onStart(fn func(*Console), c *Console) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("bridge: starting %s (pid %d): ConsoleOptions.OnStart panicked: %v", c.name, c.pid, v)
		}
	}()
	fn(c)
	return nil
}

// handshake waits for $ready within the start timeout and ctx.
func (p *Process) handshake(ctx context.Context, from *os.File, maxFrame int) (ReadyInfo, error) {
	timeout := time.AfterFunc(p.cfg.startTimeout, func() { _ = from.SetReadDeadline(time.Unix(1, 0)) })
	stop := context.AfterFunc(ctx, func() { _ = from.SetReadDeadline(time.Unix(1, 0)) })
	info, err := ReadReady(from, maxFrame)
	timedOut := !timeout.Stop()
	stop()
	_ = from.SetReadDeadline(time.Time{})
	var pe *ProtocolError
	var ve *VersionError
	switch {
	case err == nil:
		return info, nil
	case errors.As(err, &ve):
		ve.Name, ve.Pid = p.name, p.pid
		return info, ve
	case errors.As(err, &pe):
		pe.Name, pe.Pid = p.name, p.pid
		return info, pe
	case ctx.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded):
		return info, fmt.Errorf("bridge: starting %s (pid %d): %w", p.name, p.pid, ctx.Err())
	case timedOut && errors.Is(err, os.ErrDeadlineExceeded):
		return info, &StartTimeoutError{Name: p.name, Pid: p.pid, Timeout: p.cfg.startTimeout, Stderr: p.tail.get()}
	}
	// End of input: the child exited (or closed its channel) before $ready.
	if !p.waitExit(time.Second) {
		return info, &ProtocolError{Name: p.name, Pid: p.pid,
			Err: fmt.Errorf("it closed its channel before sending %s but kept running", protocol.MethodReady)}
	}
	p.waitRelays()
	exit := p.exitError()
	exit.Phase = "before " + protocol.MethodReady
	return info, exit
}

// cleanup ends a child whose start failed and waits until nothing is left.
func (p *Process) cleanup(reason error) {
	var ve *VersionError
	if errors.As(reason, &ve) {
		// SPEC 5: close its input and stop it.
		p.files[1].Close()
		if !p.waitExit(p.cfg.stopGrace) {
			p.signal(syscall.SIGTERM)
			if !p.waitExit(p.cfg.killGrace) {
				p.signal(syscall.SIGKILL)
			}
		}
	} else {
		p.signal(syscall.SIGKILL)
	}
	<-p.exited
	p.waitRelays()
	for _, f := range p.files {
		f.Close()
	}
}

// reap waits for the child to exit and cleans up its process group.
func (p *Process) reap() {
	_ = waitAndKillGroup(p.cmd)
	if p.tty != nil {
		p.tty.Close() // the console's output now ends when the last process holding it exits
	}
	close(p.exited)
}

// waitExit waits up to d for the child's exit and reports whether it happened.
func (p *Process) waitExit(d time.Duration) bool { return closedWithin(p.exited, d) }

// waitRelays lets the relays take what the child wrote before it exited; a grandchild that
// escaped the process group may hold the streams open, so the wait is bounded: past it the
// streams are closed. A relay still running a second after that is stuck in the host's
// writer or log function (WithStderr, WithStdout, WithLogFunc): it is not waited for; it
// returns when the writer does.
func (p *Process) waitRelays() {
	if p.relaysStuck.Load() {
		return // given up on already
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	for _, r := range p.logs {
		select {
		case <-r.done:
			continue
		case <-t.C:
		}
		for _, f := range p.files[2:] {
			f.Close()
		}
		t.Reset(time.Second)
		for _, r := range p.logs {
			select {
			case <-r.done:
			case <-t.C:
				p.relaysStuck.Store(true)
				p.log(slog.LevelWarn, "the relay of the child's output is stuck in the host's writer; not waiting for it")
				return
			}
		}
		return
	}
}

// streamEnded decides what the session ends with when the child's channel ends by itself
// (the Conn's OnEnd): it waits for the child's exit and reports it, or ends a child that
// broke the protocol or closed its channel and kept running.
func (p *Process) streamEnded(cause error) error {
	var perr *protocol.Error
	var werr *writeError
	switch {
	case errors.As(cause, &perr):
		p.abort(&ProtocolError{Name: p.name, Pid: p.pid, Err: cause})
	case errors.Is(cause, os.ErrClosed):
		// The host closed the channel after the exit (see supervise).
	case errors.As(cause, &werr):
		if !p.waitExit(p.cfg.stopGrace) {
			p.abort(&ProtocolError{Name: p.name, Pid: p.pid,
				Err: fmt.Errorf("writing to its channel failed (%v) while it kept running", werr.err)})
		} else {
			// It exited. What it wrote before (half a frame, a protocol violation) is read
			// first and decides the end, as when the read side finds it before the failed
			// write: a child that broke the protocol is not reported as a clean exit. Bounded
			// as in supervise: a grandchild may hold the channel open.
			p.conn.inputEnds(time.Second, p.cut)
		}
	default: // end of input: the child is exiting
		if !p.waitExit(p.cfg.stopGrace) {
			p.abort(&ProtocolError{Name: p.name, Pid: p.pid, Err: errors.New("it closed its channel but kept running")})
		}
	}
	<-p.exited
	p.waitRelays() // so that the error carries the child's last stderr lines
	_, forCalls := p.finalError()
	return forCalls
}

// supervise waits for the exit, lets the Conn read what the child wrote before it, then
// settles the final error and releases everything.
func (p *Process) supervise() {
	<-p.exited
	if p.hasChannel() {
		if !p.conn.inputEnds(time.Second, p.cut) {
			p.files[0].Close() // a grandchild holds the channel open (or Kill): stop reading
		}
		_, forCalls := p.finalError()
		p.conn.closeAndWait(forCalls, p.cut)
	}
	p.waitRelays()
	for _, f := range p.files {
		f.Close()
	}
	final, _ := p.finalError()
	p.mu.Lock()
	p.err = final
	p.mu.Unlock()
	p.logExit(final)
	close(p.done)
}

// logExit logs how the child ended.
func (p *Process) logExit(final error) {
	var ee *ExitError
	switch {
	case final == nil && p.exitError().Signal != 0:
		p.log(slog.LevelInfo, "child exited", "signal", p.exitError().Signal.String())
	case final == nil:
		p.log(slog.LevelInfo, "child exited", "status", 0)
	case errors.As(final, &ee) && ee.Signal != 0:
		p.log(slog.LevelWarn, "child exited", "signal", ee.Signal.String(), "stderr", ee.Stderr)
	case errors.As(final, &ee):
		p.log(slog.LevelWarn, "child exited", "status", ee.Code, "stderr", ee.Stderr)
	default:
		p.log(slog.LevelWarn, "child ended", "err", final.Error())
	}
}

// cutBacklog gives up handling what the child sent that the host has not handled yet
// (Kill, the end of Shutdown's context or of its grace periods): it is dropped, and Done
// no longer waits for a notification handler that runs.
func (p *Process) cutBacklog() { p.cutOnce.Do(func() { close(p.cut) }) }

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
	if p.zero() {
		return
	}
	select {
	case <-p.exited:
	default:
		signalGroup(p.cmd, sig)
	}
}

// finalError returns what Wait reports (nil for a clean exit) and what calls still in
// flight get (never nil). The child must have exited.
func (p *Process) finalError() (final, forCalls error) {
	p.mu.Lock()
	reason, closing := p.reason, p.closing
	p.mu.Unlock()
	if reason != nil {
		return reason, reason
	}
	exit := p.exitError()
	if exit.Code == 0 || p.diedOfAskedStop(exit, closing) {
		// No failure for Wait. The calls still in flight were sent, and may have run: they
		// get the exit even when the host asked for it, never ErrClosed, which tells a
		// caller that a call was not sent (a pool or an agent then sends it elsewhere).
		return nil, exit
	}
	return exit, exit
}

// exitError describes how the child ended.
func (p *Process) exitError() *ExitError {
	e := &ExitError{Name: p.name, Pid: p.pid, Code: -1, Stderr: p.tail.get(), addressSpace: p.cfg.rlimits.AddressSpace}
	if st := p.cmd.ProcessState; st != nil {
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			e.Signal = ws.Signal()
		} else {
			e.Code = st.ExitCode()
		}
	}
	return e
}

// Wait waits until the child has exited and every resource is released, and returns nil if
// it exited with status 0, else an *ExitError, *ProtocolError or the reason the host ended
// it.
func (p *Process) Wait() error {
	if p.zero() {
		return errZeroProcess
	}
	<-p.done
	return p.err
}

// Done is closed when the child has exited and every resource is released.
func (p *Process) Done() <-chan struct{} {
	if p.zero() {
		return closedChan
	}
	return p.done
}

// Exited is closed as soon as the child process has exited, before Done: what it wrote may
// still be being read, and calls in flight are about to fail.
func (p *Process) Exited() <-chan struct{} {
	if p.zero() {
		return closedChan
	}
	return p.exited
}

// zero reports a Process that Start did not make (see errZeroProcess).
func (p *Process) zero() bool { return p == nil || p.done == nil }

// Err returns what Wait would, without waiting: nil while the child runs.
func (p *Process) Err() error {
	if p.zero() {
		return errZeroProcess
	}
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
	if p.zero() {
		return -1
	}
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// Pid returns the child's process id (0 for a zero or nil Process).
func (p *Process) Pid() int {
	if p == nil {
		return 0
	}
	return p.pid
}

// Name returns the name that tags the child's logs and errors.
func (p *Process) Name() string {
	if p == nil {
		return ""
	}
	return p.name
}

// Ready returns what the child announced in its handshake.
func (p *Process) Ready() ReadyInfo {
	if p == nil {
		return ReadyInfo{}
	}
	return p.ready
}

// StderrTail returns the last lines the child wrote to stderr (and stdout, when relayed):
// at most 20.
func (p *Process) StderrTail() []string {
	if p.zero() {
		return nil
	}
	return p.tail.get()
}

// InFlight returns the number of calls to the child waiting for their answer.
func (p *Process) InFlight() int {
	if p.zero() || !p.hasChannel() {
		return 0
	}
	return p.conn.InFlight()
}

// RSS returns the child's resident memory in bytes (Linux only: read from /proc). It counts
// the child itself, not processes it started.
func (p *Process) RSS() (int64, error) {
	if p.zero() {
		return 0, errZeroProcess
	}
	n, err := residentMemory(p.pid)
	if err != nil {
		return 0, fmt.Errorf("bridge: reading the memory of %s (pid %d): %w", p.name, p.pid, err)
	}
	return n, nil
}

// usable returns ErrNoChannel for a child without a channel, and ErrClosed once a stop
// was asked for; once the child is gone, calls get the final error from the Conn.
func (p *Process) usable() error {
	if p.zero() {
		return errZeroProcess
	}
	if !p.hasChannel() {
		return p.noChannelError()
	}
	p.mu.Lock()
	closing := p.closing
	p.mu.Unlock()
	if closing {
		return ErrClosed
	}
	return nil
}

// Call calls method in the child; see Conn.Call. It fails with ErrClosed once Close,
// Shutdown, Terminate or Kill was called, and with the child's *ExitError or
// *ProtocolError when the child exits or breaks the protocol while the call is in flight.
func (p *Process) Call(ctx context.Context, method string, params, result any, opts ...CallOption) error {
	if p.zero() {
		return errZeroProcess
	}
	collectCallOptions(opts).report(p.name, p.pid)
	if err := p.usable(); err != nil {
		return err
	}
	return p.conn.Call(ctx, method, params, result, opts...)
}

// callWatched is Call for a Pool: see Conn.call.
func (p *Process) callWatched(ctx context.Context, method string, params, result any, s settler) (abandoned bool, _ error) {
	if err := p.usable(); err != nil {
		return false, err
	}
	return p.conn.call(ctx, method, params, result, s)
}

// Send sends v to the child's on('message') listeners, like process.send in Node; see
// Conn.Send.
func (p *Process) Send(ctx context.Context, v any) error {
	if err := p.usable(); err != nil {
		return err
	}
	return p.conn.Send(ctx, v)
}

// Notify sends the notification method with params to the child; see Conn.Notify.
func (p *Process) Notify(ctx context.Context, method string, params ...any) error {
	if err := p.usable(); err != nil {
		return err
	}
	return p.conn.Notify(ctx, method, params...)
}

// Handle registers (or, with h nil, removes) a host method the child can call. To be sure
// the child cannot call it before it exists, use WithHandler at Start. It does nothing for
// a child without a channel (ChannelNone).
func (p *Process) Handle(method string, h Handler) {
	if !p.zero() && p.hasChannel() {
		p.conn.Handle(method, h)
	}
}

// OnMessage registers (or, with fn nil, removes) the listener for values the child sends.
// It does nothing for a child without a channel (ChannelNone).
func (p *Process) OnMessage(fn func(v any)) {
	if !p.zero() && p.hasChannel() {
		p.conn.OnMessage(fn)
	}
}

// OnNotification registers (or, with fn nil, removes) the handler for the child's
// notifications named method. It does nothing for a child without a channel (ChannelNone).
func (p *Process) OnNotification(method string, fn NotificationHandler) {
	if !p.zero() && p.hasChannel() {
		p.conn.OnNotification(method, fn)
	}
}

// scriptExts are the file name endings that name a child better than its interpreter.
var scriptExts = []string{".py", ".php", ".js", ".mjs", ".cjs", ".ts", ".rb", ".pl", ".sh", ".lua"}

// DefaultName is the name a Process or a Pool takes without WithName, in logs and errors
// (a Pool's workers add "#index"): the base name of the last script in argv if there is one
// (compute.js in ["node", "--require", "register.js", "compute.js"]), else the
// executable's.
func DefaultName(argv []string) string {
	if len(argv) == 0 {
		return ""
	}
	name := filepath.Base(argv[0])
	for _, a := range argv[1:] {
		for _, ext := range scriptExts {
			if strings.HasSuffix(a, ext) && !strings.HasPrefix(a, "-") {
				name = filepath.Base(a)
			}
		}
	}
	return name
}

// loggerFor returns a log function tagging records with a child's name and pid; nil
// discards everything.
func loggerFor(l *slog.Logger, name string, pid int) func(slog.Level, string, ...any) {
	if l == nil {
		return func(slog.Level, string, ...any) {}
	}
	l = l.With("child", name, "pid", pid)
	return func(level slog.Level, msg string, args ...any) {
		l.Log(context.Background(), level, "polyfork: "+msg, args...)
	}
}

var _ io.Closer = (*Process)(nil)
