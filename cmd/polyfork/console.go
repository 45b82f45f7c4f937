package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/polyfork/polyfork/bridge"
)

// The console socket's wire format, between polyfork serve and polyfork attach.
//
// serve -> attach: one header line, then the terminal's output as it comes. The header is
// "polyfork-console 1 NAME PID\n" when the terminal is attached, or
// "polyfork-console refused: REASON\n", after which serve closes the connection.
//
// attach -> serve: messages of a kind byte, a big-endian uint16 length and that many
// bytes: 'k' keys typed, 'w' a window size (cols and rows, two big-endian uint16). End of
// file detaches.
const (
	consoleHeader  = "polyfork-console 1 "
	consoleRefused = "polyfork-console refused: "
	msgKeys        = 'k'
	msgWindow      = 'w'
	// consoleWriteTimeout drops an attached terminal that stops reading, so the worker's
	// output never waits on it for long.
	consoleWriteTimeout = 10 * time.Second
)

// consoleDir exposes the consoles of serve's workers as Unix sockets in a private
// directory, one per worker, named after it ("worker.py#0"). Only the user who started
// serve can attach: the directory is 0700 and each socket 0600, and on Linux every
// connection's peer credentials are checked as well. A worker's socket goes away with the
// worker, and its replacement listens under the same name.
type consoleDir struct {
	dir     string
	created bool     // dir was made by serve, and is removed at the end
	lock    *os.File // holds dir's lock: one serve per directory
	log     func(format string, args ...any)
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	sockets map[string]*consoleSocket // path -> the socket listening there now
	conns   map[net.Conn]struct{}
}

// consoleSocket is one worker's socket.
type consoleSocket struct {
	console *bridge.Console
	path    string
	ln      *net.UnixListener
	mu      sync.Mutex
	busy    bool // a terminal is attached
}

// errLocked is lockDir's answer when another process holds the lock.
var errLocked = errors.New("locked by another process")

// openConsoleDir makes dir (mode 0700) or checks that it is private to this user.
func openConsoleDir(dir string, log func(format string, args ...any)) (*consoleDir, error) {
	d := &consoleDir{dir: dir, log: log, sockets: map[string]*consoleSocket{}, conns: map[net.Conn]struct{}{}}
	err := os.Mkdir(dir, 0o700)
	switch {
	case err == nil:
		d.created = true
		// The umask took bits off (0177 left 0600: a directory only root could enter, so
		// no worker's socket could be bound in it); give it exactly 0700.
		if err := os.Chmod(dir, 0o700); err != nil {
			os.Remove(dir)
			return nil, fmt.Errorf("-console %s: %w", dir, err)
		}
	case errors.Is(err, os.ErrExist):
		if err := checkPrivateDir(dir); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("-console %s: %w", dir, err)
	}
	// Two serves in one directory would take each other's sockets (workers share names),
	// and the first to stop would remove the other's.
	d.lock, err = lockDir(dir)
	if err != nil {
		if errors.Is(err, errLocked) {
			err = errors.New("another polyfork serve uses this directory; give each serve one of its own")
		}
		return nil, fmt.Errorf("-console %s: %w", dir, err)
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d, nil
}

// checkPrivateDir refuses a directory that another user could reach or own.
func checkPrivateDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("-console %s: %w", dir, err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		// On purpose: the checks below would be of the link's target, which whoever can
		// change the link could point elsewhere once they passed.
		target, _ := os.Readlink(dir)
		return fmt.Errorf("-console %s: a symbolic link (to %s), refused on purpose: give the directory itself", dir, target)
	}
	if !fi.IsDir() {
		return fmt.Errorf("-console %s: not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("-console %s: mode %04o lets other users in; use a new directory, or chmod 700 it", dir, perm)
	}
	if uid, ok := ownerOf(fi); ok && uid != os.Geteuid() {
		return fmt.Errorf("-console %s: owned by uid %d, not by this user (uid %d)", dir, uid, os.Geteuid())
	}
	return nil
}

// socketPathMax is the longest path a Unix socket can have: sun_path holds 108 bytes on
// Linux, 104 on macOS and the BSDs, its terminating NUL included.
var socketPathMax = map[bool]int{true: 107, false: 103}[runtime.GOOS == "linux"]

// socketPath is where the console of the worker named name listens in dir.
func socketPath(dir, name string) string {
	return filepath.Join(dir, strings.NewReplacer("/", "_", "\x00", "_").Replace(name))
}

// checkConsolePaths refuses a -console DIR in which the socket of a worker of argv would
// not fit a Unix socket's path: serve's workers are "NAME#0" to "NAME#(workers-1)", NAME
// bridge.DefaultName(argv), as the bridge names a Pool's workers.
func checkConsolePaths(dir string, argv []string, workers int) error {
	path := socketPath(dir, fmt.Sprintf("%s#%d", bridge.DefaultName(argv), max(workers, 1)-1))
	if len(path) > socketPathMax {
		return fmt.Errorf("-console %s: the socket path %s is %d bytes, and a Unix socket's path holds at most %d here; give a shorter directory",
			dir, path, len(path), socketPathMax)
	}
	return nil
}

// add listens for terminals for console c: the console's OnStart.
func (d *consoleDir) add(c *bridge.Console) {
	path := socketPath(d.dir, c.Name())
	if len(path) > socketPathMax { // checkConsolePaths refused it unless the name is not serve's
		d.log("console of %s (pid %d): the socket path %s is too long for a Unix socket", c.Name(), c.Pid(), path)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	if old := d.sockets[path]; old != nil {
		old.ln.Close() // the worker this one replaces (Reload): newest wins the name
	}
	_ = os.Remove(path)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err == nil {
		ln.SetUnlinkOnClose(false) // a replacement may be listening at the path by then
		if err = os.Chmod(path, 0o600); err != nil {
			ln.Close()
		}
	}
	if err != nil {
		d.log("console of %s (pid %d): %v", c.Name(), c.Pid(), err)
		return
	}
	s := &consoleSocket{console: c, path: path, ln: ln}
	d.sockets[path] = s
	d.wg.Add(2)
	go d.accept(s)
	go func() {
		defer d.wg.Done()
		select {
		case <-c.Done():
		case <-d.ctx.Done():
		}
		d.remove(s)
	}()
}

// remove stops listening for s and removes its path unless a newer socket took it.
func (d *consoleDir) remove(s *consoleSocket) {
	s.ln.Close()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sockets[s.path] == s {
		delete(d.sockets, s.path)
		_ = os.Remove(s.path)
	}
}

// accept serves s's connections until its listener is closed. A failed accept that is not
// the listener's end (EMFILE: serve's descriptors all in use for a moment) is tried again
// after a pause, as net/http does, and logged once per run of failures: returning left the
// worker's console unreachable for good, each attach waiting 10 s for a header that never
// came.
func (d *consoleDir) accept(s *consoleSocket) {
	defer d.wg.Done()
	var pause time.Duration
	for {
		conn, err := s.ln.AcceptUnix()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			if pause == 0 {
				d.log("console of %s: cannot accept a terminal, trying again: %v", s.console.Name(), err)
				pause = 5 * time.Millisecond
			} else {
				pause = min(2*pause, time.Second)
			}
			time.Sleep(pause)
			continue
		}
		pause = 0
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			conn.Close()
			return
		}
		d.conns[conn] = struct{}{}
		d.wg.Add(1)
		d.mu.Unlock()
		go func() {
			defer d.wg.Done()
			d.serve(s, conn)
			conn.Close()
			d.mu.Lock()
			delete(d.conns, conn)
			d.mu.Unlock()
		}()
	}
}

// serve attaches one connection's terminal to s's console.
func (d *consoleDir) serve(s *consoleSocket, conn *net.UnixConn) {
	refuse := func(format string, args ...any) {
		_ = conn.SetWriteDeadline(time.Now().Add(consoleWriteTimeout))
		fmt.Fprintf(conn, consoleRefused+format+"\n", args...)
	}
	if uid, err := peerUID(conn); err != nil {
		refuse("cannot tell who is connecting: %v", err)
		return
	} else if uid >= 0 && uid != os.Geteuid() {
		d.log("console of %s: refused a terminal of uid %d", s.console.Name(), uid)
		refuse("uid %d is not the user who started polyfork serve", uid)
		return
	}
	s.mu.Lock()
	busy := s.busy
	s.busy = true
	s.mu.Unlock()
	if busy {
		refuse("another terminal is attached to %s", s.console.Name())
		return
	}
	defer func() {
		s.mu.Lock()
		s.busy = false
		s.mu.Unlock()
	}()
	out := &deadlineWriter{conn: conn}
	if _, err := fmt.Fprintf(out, "%s%s %d\n", consoleHeader, s.console.Name(), s.console.Pid()); err != nil {
		return
	}
	in := &consoleInput{conn: conn, r: bufio.NewReader(conn), console: s.console}
	if err := s.console.Attach(d.ctx, in, out); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, os.ErrDeadlineExceeded) {
		d.log("console of %s: %v", s.console.Name(), err)
	}
}

// Close stops listening, detaches every terminal and removes the sockets (and the
// directory, if serve made it).
func (d *consoleDir) Close() {
	d.mu.Lock()
	d.closed = true
	for _, s := range d.sockets {
		s.ln.Close()
	}
	for c := range d.conns {
		c.Close()
	}
	d.mu.Unlock()
	d.cancel()
	d.wg.Wait()
	if d.created {
		_ = os.Remove(d.dir)
	}
	if d.lock != nil {
		d.lock.Close()
	}
}

// consoleInput reads the keys an attached terminal sends, and applies its window sizes.
type consoleInput struct {
	conn    *net.UnixConn
	r       *bufio.Reader
	console *bridge.Console
	left    int // bytes of the current keys message not yet read
}

func (c *consoleInput) Read(p []byte) (int, error) {
	for c.left == 0 {
		var head [3]byte
		if _, err := io.ReadFull(c.r, head[:]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return 0, fmt.Errorf("a truncated message from the terminal")
			}
			return 0, err
		}
		n := int(binary.BigEndian.Uint16(head[1:]))
		switch head[0] {
		case msgKeys:
			c.left = n
		case msgWindow:
			var ws [4]byte
			if n != len(ws) {
				return 0, fmt.Errorf("a window size message of %d bytes, want 4", n)
			}
			if _, err := io.ReadFull(c.r, ws[:]); err != nil {
				return 0, err
			}
			_ = c.console.Resize(int(binary.BigEndian.Uint16(ws[:2])), int(binary.BigEndian.Uint16(ws[2:])))
		default:
			return 0, fmt.Errorf("a message of unknown kind %q from the terminal", head[0])
		}
	}
	n, err := c.r.Read(p[:min(len(p), c.left)])
	c.left -= n
	return n, err
}

// SetReadDeadline interrupts a pending Read (see bridge.Console.Attach).
func (c *consoleInput) SetReadDeadline(t time.Time) error { return c.conn.SetReadDeadline(t) }

// deadlineWriter bounds every write to an attached terminal.
type deadlineWriter struct{ conn net.Conn }

func (w *deadlineWriter) Write(p []byte) (int, error) {
	_ = w.conn.SetWriteDeadline(time.Now().Add(consoleWriteTimeout))
	return w.conn.Write(p)
}

// appendMessage appends one attach -> serve message.
func appendMessage(b []byte, kind byte, payload []byte) []byte {
	b = append(b, kind)
	b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
	return append(b, payload...)
}

// windowMessage is the 'w' message for a window of cols x rows.
func windowMessage(cols, rows int) []byte {
	var ws [4]byte
	binary.BigEndian.PutUint16(ws[:2], uint16(cols))
	binary.BigEndian.PutUint16(ws[2:], uint16(rows))
	return appendMessage(nil, msgWindow, ws[:])
}

// parseHeader reads serve's header line: the worker's name and pid, or the reason for a
// refusal as an error.
func parseHeader(line string) (name string, pid int, err error) {
	line = strings.TrimSuffix(line, "\n")
	if reason, ok := strings.CutPrefix(line, consoleRefused); ok {
		return "", 0, errors.New(reason)
	}
	rest, ok := strings.CutPrefix(line, consoleHeader)
	i := strings.LastIndexByte(rest, ' ')
	if !ok || i < 0 {
		return "", 0, fmt.Errorf("not a polyfork console: it said %q", clip(line))
	}
	pid, err = strconv.Atoi(rest[i+1:])
	if err != nil {
		return "", 0, fmt.Errorf("not a polyfork console: it said %q", clip(line))
	}
	return rest[:i], pid, nil
}
