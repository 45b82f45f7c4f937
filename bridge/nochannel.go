package bridge

import (
	"errors"
	"fmt"
	"log/slog"
	"syscall"
)

// A child started with ChannelNone does not speak the protocol: an ordinary server (an
// unmodified Node http server, uvicorn, gunicorn) that a Pool supervises and passes
// listening sockets to. This file holds what differs for it:
//
//   - it is ready as soon as it has started: there is no $ready to wait for;
//   - it is asked to stop with SIGTERM instead of $stop, and killed with SIGKILL after the
//     first grace period of WithGracePeriods; dying of that SIGTERM counts as a clean exit
//     (a server that does not handle SIGTERM dies of it);
//   - calls, messages and notifications fail with ErrNoChannel, and options that only
//     make sense with a channel (handlers, listeners of messages, call limits) are refused;
//   - its stdin is /dev/null and its stdout is relayed line by line like its stderr, and
//     it gets none of the POLYFORK_* variables (so a client library in it does not look
//     for a host).

// ErrNoChannel is matched by the error of a call, message or notification to a child, or
// a Pool of children, started with ChannelNone.
var ErrNoChannel = errors.New("bridge: the child has no channel (ChannelNone): it takes no calls, messages or notifications")

// hasChannel reports whether the child speaks the protocol (and so has a Conn). It reads
// the configuration, not p.conn, which the Conn's own reader may not see assigned yet.
func (p *Process) hasChannel() bool { return p.cfg.channel != ChannelNone }

// noChannelError is what Call, Send and Notify return for a child without a channel.
func (p *Process) noChannelError() error {
	return fmt.Errorf("%w: %s (pid %d)", ErrNoChannel, p.name, p.pid)
}

// stopWithoutChannel asks a child without a channel to stop, then forces it; see
// Process.Shutdown.
func (p *Process) stopWithoutChannel() {
	p.signal(syscall.SIGTERM)
	if p.waitExit(p.cfg.stopGrace) {
		return
	}
	p.log(slog.LevelWarn, "child did not exit after SIGTERM; sending SIGKILL", "grace", p.cfg.stopGrace)
	p.signal(syscall.SIGKILL)
}

// diedOfAskedStop reports whether a child without a channel died of the SIGTERM that a
// stop sent it: the server's way to stop, not a failure.
func (p *Process) diedOfAskedStop(exit *ExitError, closing bool) bool {
	return !p.hasChannel() && closing && exit.Signal == syscall.SIGTERM
}

// checkChannelNone refuses the options that need a channel when the channel is
// ChannelNone, naming each.
func checkChannelNone(c *config) error {
	if c.proc.channel != ChannelNone {
		return nil
	}
	var errs []error
	refuse := func(option, why string) {
		errs = append(errs, &OptionError{Option: option, Reason: why + ", and a child started with ChannelNone has no channel"})
	}
	if len(c.conn.handlers) > 0 {
		refuse("WithHandler", "host methods are called over the channel")
	}
	if len(c.conn.notify) > 0 {
		refuse("OnMessage", "messages and notifications come over the channel")
	}
	if c.conn.child != nil {
		refuse("WithChildRole", "the child role speaks the protocol")
	}
	if c.pool.maxJobs > 0 {
		refuse("WithMaxJobs", "jobs are calls")
	}
	if c.pool.maxIdle > 0 {
		refuse("WithMaxIdle", "idle means no call")
	}
	if c.pool.execTimeout > 0 {
		refuse("WithExecTimeout", "it bounds calls")
	}
	return errors.Join(errs...)
}
