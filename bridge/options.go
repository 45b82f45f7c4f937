package bridge

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/polyfork/polyfork/protocol"
)

// Handler serves a request from the child. Its result is encoded as the response; a
// returned error becomes an error map (a *RemoteError keeps its type, message, traceback and
// data; any other error has type "Error"). ctx is cancelled when the child sends $cancel for
// the request or the process ends. A panic is recovered and reported to the child as an
// error of type "panic".
type Handler func(ctx context.Context, args Args) (any, error)

// NotificationHandler receives a notification from the child. Notification handlers run one
// at a time, in the order the child sent them, on a goroutine of their own: a slow handler
// delays later notifications, never responses to calls.
type NotificationHandler func(args Args)

// LogLine is one line the child wrote to stderr.
type LogLine struct {
	Name string // the child's name
	Pid  int
	Text string // the line, without its newline
}

// Option configures Start.
type Option func(*config)

type config struct {
	env          []string
	dir          string
	name         string
	startTimeout time.Duration
	stopGrace    time.Duration
	killGrace    time.Duration
	stderr       io.Writer
	logFunc      func(LogLine)
	handlers     map[string]Handler
	notify       map[string]NotificationHandler
	maxFrame     int
	errs         []string
}

func defaultConfig() *config {
	return &config{
		startTimeout: 10 * time.Second,
		stopGrace:    2 * time.Second,
		killGrace:    2 * time.Second,
		stderr:       os.Stderr,
		handlers:     map[string]Handler{},
		notify:       map[string]NotificationHandler{},
		maxFrame:     protocol.DefaultMaxFrameSize,
	}
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

func (c *config) validate() error {
	if len(c.errs) > 0 {
		return fmt.Errorf("bridge: invalid options: %s", strings.Join(c.errs, "; "))
	}
	return nil
}

// WithEnv adds "KEY=value" entries to the environment the child inherits from this process;
// later entries win.
func WithEnv(kv ...string) Option {
	return func(c *config) {
		for _, e := range kv {
			if !strings.Contains(e, "=") {
				c.fail("WithEnv: %q is not KEY=value", e)
			}
		}
		c.env = append(c.env, kv...)
	}
}

// WithDir sets the child's working directory.
func WithDir(dir string) Option { return func(c *config) { c.dir = dir } }

// WithName sets the name that tags the child's stderr lines and errors. The default is the
// script's file name (compute.py in ["python3", "compute.py"]) or the executable's.
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithStartTimeout bounds how long Start waits for the child's $ready (default 10 s).
func WithStartTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.fail("WithStartTimeout: %v is not positive", d)
		}
		c.startTimeout = d
	}
}

// WithGracePeriods sets how long Close waits after $stop before SIGTERM, and after SIGTERM
// before SIGKILL (2 s each by default).
func WithGracePeriods(stop, term time.Duration) Option {
	return func(c *config) {
		if stop <= 0 || term <= 0 {
			c.fail("WithGracePeriods: %v and %v must be positive", stop, term)
		}
		c.stopGrace, c.killGrace = stop, term
	}
}

// WithStderr sends the child's stderr, one "name[pid] line" per line, to w (default
// os.Stderr). nil discards it (the last lines are still kept for errors). Each line is one
// Write; the processes that share this Option value (the workers of a Pool) never write
// to w at the same time.
func WithStderr(w io.Writer) Option {
	if w != nil {
		w = &lockedWriter{w: w}
	}
	return func(c *config) { c.stderr = w; c.logFunc = nil }
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

// WithLogFunc hands each line the child writes to stderr to fn instead of a writer. fn is
// called from one goroutine per process, in order; processes sharing fn (the workers of a
// Pool) may call it concurrently.
func WithLogFunc(fn func(LogLine)) Option { return func(c *config) { c.logFunc = fn } }

// WithHandler registers a host method the child can call. Register handlers here rather than
// with Process.Handle when the child may call them as soon as it starts.
func WithHandler(method string, h Handler) Option {
	return func(c *config) {
		if method == "" || strings.HasPrefix(method, "$") || h == nil {
			c.fail("WithHandler: method %q must be non-empty, not start with '$', and have a handler", method)
			return
		}
		c.handlers[method] = h
	}
}

// OnMessage registers fn for the values the child sends with send(value). The value is
// decoded as protocol.DecodeValue does.
func OnMessage(fn func(v any)) Option {
	return OnNotification(protocol.MethodMessage, messageHandler(fn))
}

// OnNotification registers fn for the child's notifications named method.
func OnNotification(method string, fn NotificationHandler) Option {
	return func(c *config) {
		if method == "" || strings.HasPrefix(method, "$") || fn == nil {
			c.fail("OnNotification: method %q must be non-empty, not start with '$', and have a handler", method)
			return
		}
		c.notify[method] = fn
	}
}

// WithMaxFrameSize sets the largest frame accepted from the child and sent to it (default
// 64 MiB). The child learns it from POLYFORK_MAX_FRAME_SIZE.
func WithMaxFrameSize(n int) Option {
	return func(c *config) {
		if n < 64 || n > 1<<32-1 {
			c.fail("WithMaxFrameSize: %d is outside 64 .. 4294967295", n)
		}
		c.maxFrame = n
	}
}

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

// scriptExts are the file name endings that name a child better than its interpreter.
var scriptExts = []string{".py", ".php", ".js", ".mjs", ".cjs", ".ts", ".rb", ".pl", ".sh", ".lua"}

// defaultName picks the last script in argv if there is one (compute.js in
// ["node", "--require", "register.js", "compute.js"]), else the executable.
func defaultName(argv []string) string {
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
