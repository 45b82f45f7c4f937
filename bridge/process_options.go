package bridge

import (
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// LogLine is one line a child wrote to stderr (or, with its channel on descriptors of its
// own, to stdout).
type LogLine struct {
	Name   string // the child's name
	Pid    int
	Stream string // "stderr", "stdout", or "console" (the child's terminal: WithConsole)
	Text   string // the line, without its newline
}

// Channel says where a child's frames travel.
type Channel int

const (
	// ChannelStdio puts the frames on the child's stdin and stdout (the default): any
	// language can speak it, and the client libraries move stray output off stdout.
	ChannelStdio Channel = iota
	// ChannelFDs puts the frames on two pipes of their own, whose descriptor numbers the
	// child reads from POLYFORK_CHANNEL_FDS (SPEC section 1.1). The child's stdin is
	// /dev/null, and its stdout is relayed line by line like its stderr, so nothing it or a
	// library or a subprocess prints can corrupt the channel.
	ChannelFDs
	// ChannelNone starts a child that does not speak the protocol at all, such as an
	// ordinary HTTP server given listening sockets by a Pool (WithListeners): it is ready
	// once started, stopped with SIGTERM (then SIGKILL), and takes no calls; see
	// ErrNoChannel. Its stdin is /dev/null and its stdout is relayed like its stderr.
	ChannelNone
)

func (ch Channel) String() string {
	switch ch {
	case ChannelStdio:
		return "stdio"
	case ChannelFDs:
		return "fd"
	case ChannelNone:
		return "none"
	}
	return "Channel(" + strconv.Itoa(int(ch)) + ")"
}

// ParseChannel turns "stdio", "fd" or "none" into a Channel.
func ParseChannel(s string) (Channel, bool) {
	switch s {
	case "stdio":
		return ChannelStdio, true
	case "fd", "fds":
		return ChannelFDs, true
	case "none":
		return ChannelNone, true
	}
	return 0, false
}

// procConfig is what Start needs beyond the Conn's settings.
type procConfig struct {
	env          []string
	cleanEnv     bool     // start from an empty environment
	allowEnv     []string // with cleanEnv: host variables passed on
	dir          string
	startTimeout time.Duration
	stopGrace    time.Duration
	killGrace    time.Duration
	stderr       io.Writer
	stdout       io.Writer // fd channel: where stdout lines go (nil: with stderr)
	stdoutSet    bool
	logFunc      func(LogLine)
	sysAttr      *syscall.SysProcAttr
	channel      Channel
	extraFiles   []*os.File      // passed first, from descriptor 3 (listening sockets)
	extraEnv     []string        // set by the Pool for its listeners (LISTEN_*)
	listenPID    bool            // set LISTEN_PID to the child's own pid
	console      *ConsoleOptions // a terminal for the child (console.go), or nil
	rlimits      Rlimits         // set by a shell before the program runs (rlimit.go)
}

func defaultProcConfig() procConfig {
	return procConfig{
		startTimeout: 10 * time.Second,
		stopGrace:    2 * time.Second,
		killGrace:    2 * time.Second,
		stderr:       os.Stderr,
	}
}

// WithEnv adds "KEY=value" entries to the child's environment (the host's, or the clean
// one of WithCleanEnv); later entries win.
func WithEnv(kv ...string) Option {
	return func(c *config) {
		c.use("WithEnv", scopeProcess)
		for _, e := range kv {
			if i := strings.IndexByte(e, '='); i <= 0 {
				c.fail("WithEnv", "%q is not KEY=value", e)
			}
		}
		c.proc.env = append(c.proc.env, kv...)
	}
}

// WithCleanEnv starts the child from an empty environment instead of the host's, plus the
// host's variables named in allow (PATH and HOME are usual choices), plus WithEnv's
// entries and the protocol's own POLYFORK_* variables.
func WithCleanEnv(allow ...string) Option {
	return func(c *config) {
		c.use("WithCleanEnv", scopeProcess)
		for _, name := range allow {
			if name == "" || strings.ContainsAny(name, "=\x00") {
				c.fail("WithCleanEnv", "%q is not a variable name", name)
			}
		}
		c.proc.cleanEnv = true
		c.proc.allowEnv = append(c.proc.allowEnv, allow...)
	}
}

// WithDir sets the child's working directory.
func WithDir(dir string) Option {
	return func(c *config) {
		c.use("WithDir", scopeProcess)
		c.proc.dir = dir
	}
}

// WithStartTimeout bounds how long Start waits for the child's $ready (default 10 s).
func WithStartTimeout(d time.Duration) Option {
	return func(c *config) {
		c.use("WithStartTimeout", scopeProcess)
		if d <= 0 {
			c.fail("WithStartTimeout", "%v is not positive", d)
		}
		c.proc.startTimeout = d
	}
}

// WithGracePeriods sets how long a stop waits after $stop before SIGTERM, and after
// SIGTERM before SIGKILL (2 s each by default). A Pool's execution timeout uses the second.
// A child without a channel (ChannelNone) gets SIGTERM at once and SIGKILL after the first.
func WithGracePeriods(stop, term time.Duration) Option {
	return func(c *config) {
		c.use("WithGracePeriods", scopeProcess)
		if stop <= 0 || term <= 0 {
			c.fail("WithGracePeriods", "%v and %v must be positive", stop, term)
		}
		c.proc.stopGrace, c.proc.killGrace = stop, term
	}
}

// graces is the two grace periods together, at most the longest Duration: their plain sum
// overflowed for very long ones (math.MaxInt64, "never force"), into a negative bound that
// had a Pool SIGKILL every worker it stopped at once, and Close drop what the child sent.
func (c procConfig) graces() time.Duration {
	if c.stopGrace > math.MaxInt64-c.killGrace {
		return math.MaxInt64
	}
	return c.stopGrace + c.killGrace
}

// WithStderr sends the child's stderr, one "name[pid] line" per line, to w (default
// os.Stderr); with ChannelFDs its stdout too, unless WithStdout says otherwise. nil
// discards the lines (the last ones are still kept for errors). Each line is one Write; the
// processes that share this Option (the workers of a Pool) never write to w at once. A
// Write that blocks holds the relay (the child blocks once its stderr pipe is full); once
// the child has exited, the end of the Process (Close, Kill, Wait) waits for it at most two
// seconds, then goes on without it.
func WithStderr(w io.Writer) Option {
	if w != nil {
		w = &lockedWriter{w: w}
	}
	return func(c *config) {
		c.use("WithStderr", scopeProcess)
		c.proc.stderr = w
		c.proc.logFunc = nil
	}
}

// WithStdout sends the child's stdout lines to w instead of with its stderr, when its
// channel is on descriptors of its own (ChannelFDs, or a console); nil discards them.
func WithStdout(w io.Writer) Option {
	if w != nil {
		w = &lockedWriter{w: w}
	}
	return func(c *config) {
		c.use("WithStdout", scopeProcess)
		c.proc.stdout, c.proc.stdoutSet = w, true
	}
}

// lockedWriter serializes writes to a writer shared by several processes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// WithLogFunc hands each line the child writes to stderr (and stdout, when it is relayed)
// to fn instead of a writer. fn is called from one goroutine per stream of a process, in
// order; processes sharing fn (the workers of a Pool) may call it concurrently. An fn that
// blocks is waited for as a Write of WithStderr is. An fn (or a WithStderr writer) that
// panics is logged once and not called again for that stream; its lines are still kept
// for error messages.
func WithLogFunc(fn func(LogLine)) Option {
	return func(c *config) {
		c.use("WithLogFunc", scopeProcess)
		if fn == nil {
			c.fail("WithLogFunc", "the function is nil")
			return
		}
		c.proc.logFunc = fn
	}
}

// WithSysProcAttr sets OS-specific attributes for the child (credentials, namespaces,
// chroot on Linux). polyfork still sets its own process group and (on Linux) the
// parent-death signal over whatever attr says, since it relies on both to leave nothing
// running; with Setsid, the child leads a session of its own, and so its own process group.
func WithSysProcAttr(attr *syscall.SysProcAttr) Option {
	return func(c *config) {
		c.use("WithSysProcAttr", scopeProcess)
		c.proc.sysAttr = attr
	}
}

// WithChannel chooses where the frames travel (default ChannelStdio).
func WithChannel(ch Channel) Option {
	return func(c *config) {
		c.use("WithChannel", scopeProcess)
		if ch != ChannelStdio && ch != ChannelFDs && ch != ChannelNone {
			c.fail("WithChannel", "%v is not a channel", ch)
		}
		c.proc.channel = ch
	}
}
