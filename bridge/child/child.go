// Package child makes a Go program a polyfork child, with the same verbs as the Python, PHP
// and Node clients: Handle methods the host calls, OnMessage for what the host sends, Send
// and Call back to the host, and Run, which serves until the host says $stop or closes the
// channel.
//
//	func main() {
//		child.Handle("add", func(ctx context.Context, a bridge.Args) (any, error) {
//			var x, y int
//			if err := a.Decode(&x, &y); err != nil {
//				return nil, err
//			}
//			return x + y, nil
//		})
//		child.OnMessage(func(v any) { child.Send(context.Background(), v) })
//		if err := child.Run(); err != nil {
//			log.Fatal(err)
//		}
//	}
//
// Run finds the channel as protocol/SPEC.md section 1.1 says: on the descriptors named by
// POLYFORK_CHANNEL_FDS, or else on stdin and stdout. In the second case it moves the
// protocol to private duplicates of descriptors 0 and 1, points descriptor 1 at stderr and
// descriptor 0 at /dev/null (Unix), so that fmt.Println, log output and subprocesses never
// corrupt the channel.
//
// The package-level functions use one default Child; New makes others (for tests, or to
// serve a Conn over another stream with Serve).
package child

import (
	"context"
	"errors"
	"fmt"
	"github.com/polyfork/polyfork"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/protocol"
)

// Version is this library's version, announced in $ready: the module's.
const Version = polyfork.Version

// Child is the child's side of one session. Register handlers before Serve or Run; the
// methods that talk to the host (Send, Call, Notify) work once serving has started. Every
// method is safe for concurrent use.
type Child struct {
	mu   sync.Mutex
	opts []bridge.Option
	conn *bridge.Conn // set once serving has started
}

// New returns a Child with no handlers (as a zero Child is).
func New() *Child {
	return &Child{}
}

var std = New()

var (
	listenOnce sync.Once
	listeners  []Listener
	listenErr  error
)

// Handle registers the handler for method on the default Child.
func Handle(method string, h bridge.Handler) { std.Handle(method, h) }

// OnMessage registers the listener for values the host sends, on the default Child.
func OnMessage(fn func(v any)) { std.OnMessage(fn) }

// OnNotification registers the handler for the host's notifications named method, on the
// default Child.
func OnNotification(method string, fn bridge.NotificationHandler) { std.OnNotification(method, fn) }

// Send sends v to the host's OnMessage listener, from the default Child.
func Send(ctx context.Context, v any) error { return std.Send(ctx, v) }

// Call calls a host method, from the default Child.
func Call(ctx context.Context, method string, params, result any) error {
	return std.Call(ctx, method, params, result)
}

// Notify sends a notification to the host, from the default Child.
func Notify(ctx context.Context, method string, params ...any) error {
	return std.Notify(ctx, method, params...)
}

// Run serves the default Child on its channel; see Child.Run.
func Run() error { return std.Run() }

// Handle registers (or replaces) the handler for method. A handler registered after Serve
// began is used for requests that arrive afterwards.
func (c *Child) Handle(method string, h bridge.Handler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Handle(method, h)
	} else {
		c.opts = append(c.opts, bridge.WithHandler(method, h))
	}
}

// OnMessage registers the listener for values the host sends with Process.Send.
func (c *Child) OnMessage(fn func(v any)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.OnMessage(fn)
	} else {
		c.opts = append(c.opts, bridge.OnMessage(fn))
	}
}

// OnNotification registers the handler for the host's notifications named method.
func (c *Child) OnNotification(method string, fn bridge.NotificationHandler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.OnNotification(method, fn)
	} else {
		c.opts = append(c.opts, bridge.OnNotification(method, fn))
	}
}

// session returns the Conn once serving has started, or an error saying it has not.
func (c *Child) session() (*bridge.Conn, error) {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return nil, errors.New("child: not serving yet: call Run (or Serve) first; handlers run once it has started")
	}
	return conn, nil
}

// Send sends v to the host's OnMessage listener.
func (c *Child) Send(ctx context.Context, v any) error {
	conn, err := c.session()
	if err != nil {
		return err
	}
	return conn.Send(ctx, v)
}

// Call calls a host method (registered with bridge.WithHandler) and decodes its result.
func (c *Child) Call(ctx context.Context, method string, params, result any) error {
	conn, err := c.session()
	if err != nil {
		return err
	}
	return conn.Call(ctx, method, params, result)
}

// Notify sends the notification method to the host.
func (c *Child) Notify(ctx context.Context, method string, params ...any) error {
	conn, err := c.session()
	if err != nil {
		return err
	}
	return conn.Notify(ctx, method, params...)
}

// Run serves on the channel the host gave (POLYFORK_CHANNEL_FDS, or stdin and stdout) until
// the host sends $stop or closes the channel; requests and message handlers still running
// then finish, and their answers and sends go out first (a call to the host made after the
// channel closed fails with io.EOF). It returns nil after a clean stop, so that main can exit with
// status 0, and an error for a protocol error or a channel it cannot use.
func (c *Child) Run() error {
	r, w, err := channel()
	if err != nil {
		return err
	}
	return c.Serve(r, w, maxFromEnv()...)
}

// Serve serves over r and w (a socket, a net.Pipe in tests) as Run does, with extra
// options for the Conn (limits, a logger).
func (c *Child) Serve(r io.Reader, w io.Writer, opts ...bridge.Option) error {
	stop := make(chan struct{})
	var once sync.Once
	info := bridge.ReadyInfo{Protocol: protocol.Version, Lang: "go", Pid: os.Getpid(), Lib: "polyfork-go/" + Version}
	c.mu.Lock()
	if c.conn != nil {
		c.mu.Unlock()
		return errors.New("child: Serve called twice")
	}
	all := append(append([]bridge.Option{}, c.opts...), opts...)
	all = append(all, bridge.WithChildRole(info, func() { once.Do(func() { close(stop) }) }))
	conn, err := bridge.NewConn(r, w, all...)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	c.conn = conn
	c.mu.Unlock()

	select {
	case <-stop:
		_ = conn.Drain(context.Background())
		_ = conn.Flush(context.Background())
		conn.Close()
		return nil
	case <-conn.Done():
	}
	if err := conn.Err(); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bridge.ErrClosed) {
		return err
	}
	return nil
}

// maxFromEnv passes the host's limits (SPEC section 1) on to the Conn.
func maxFromEnv() []bridge.Option {
	var opts []bridge.Option
	if n, err := strconv.Atoi(os.Getenv(protocol.EnvMaxFrameSize)); err == nil && n > 0 {
		opts = append(opts, bridge.WithMaxFrameSize(n))
	}
	if n, err := strconv.Atoi(os.Getenv(protocol.EnvMaxValues)); err == nil && n > 0 {
		opts = append(opts, bridge.WithMaxValues(n))
	}
	return opts
}

// channel finds the channel (SPEC 1.1).
func channel() (io.ReadCloser, io.WriteCloser, error) {
	spec, ok := os.LookupEnv(protocol.EnvChannelFDs)
	if !ok {
		return takeStdio()
	}
	os.Unsetenv(protocol.EnvChannelFDs)
	a, b, found := strings.Cut(spec, ",")
	rfd, err1 := strconv.Atoi(a)
	wfd, err2 := strconv.Atoi(b)
	if !found || err1 != nil || err2 != nil || rfd < 0 || wfd < 0 {
		return nil, nil, fmt.Errorf("child: %s=%q is not two descriptor numbers such as 3,4", protocol.EnvChannelFDs, spec)
	}
	for _, fd := range []int{rfd, wfd} {
		if err := prepareFD(fd); err != nil {
			return nil, nil, fmt.Errorf("child: %s=%q: descriptor %d is not open: %w", protocol.EnvChannelFDs, spec, fd, err)
		}
	}
	r := os.NewFile(uintptr(rfd), "polyfork-channel-in")
	if rfd == wfd {
		return r, r, nil
	}
	return r, os.NewFile(uintptr(wfd), "polyfork-channel-out"), nil
}
