package main

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// limitListener accepts at most n connections at once: past n, new clients wait in the
// kernel's listen backlog, costing this process no descriptor. It is
// golang.org/x/net/netutil.LimitListener's idea, with a Close that is safe to call twice
// (http.Server's Shutdown closes it after the drain already has), and one more thing: a
// client that finds every slot taken is accepted, and room is made for it by closing a
// connection that is doing nothing (evict), as often as needed until a slot frees.
// Without that, connections kept alive between requests held their slots for up to
// -idle-timeout, so that -max-conns of them, each sending a request a minute, locked
// every other client out.
type limitListener struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	// evict closes a connection that is doing nothing, if there is one, and reports
	// whether it did; nil: wait for a slot.
	evict func() bool
}

// evictEvery is how often a client waiting for a slot looks again for a connection to
// evict, when none was doing nothing.
const evictEvery = 50 * time.Millisecond

func newLimitListener(l net.Listener, n int, evict func() bool) *limitListener {
	return &limitListener{Listener: l, slots: make(chan struct{}, n), done: make(chan struct{}), evict: evict}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
		return l.accept()
	case <-l.done:
		return nil, net.ErrClosed
	default:
	}
	if l.evict == nil {
		select {
		case l.slots <- struct{}{}:
			return l.accept()
		case <-l.done:
			return nil, net.ErrClosed
		}
	}
	// Every slot is taken: wait for a client (not a slot), then make room for it.
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tick := time.NewTicker(evictEvery)
	defer tick.Stop()
	for {
		select { // a slot freed while Accept waited: no one need be closed
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
		}
		l.evict()
		select {
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
		case <-l.done:
			c.Close()
			return nil, net.ErrClosed
		case <-tick.C:
		}
	}
}

// accept accepts a connection for the slot just taken.
func (l *limitListener) accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

// Close stops Accept, including one waiting for a free slot; it is safe to call twice.
func (l *limitListener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.Listener.Close()
	})
	return err
}

// limitConn gives its slot back when it is closed.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// aLongTimeAgo is a deadline in the past: setting it makes a pending read fail at once.
var aLongTimeAgo = time.Unix(1, 0)

// connTracker follows the server's connections through http.Server's ConnState and
// ConnContext hooks, so that a drain can end exactly the ones that hold it up without
// doing any good: those that have not sent a whole request yet, and those whose request
// body is still arriving. Connections whose call is running are left alone.
type connTracker struct {
	// drained is cancelled when the drain starts, for whatever waits on a request's behalf.
	drained    context.Context
	startDrain context.CancelFunc

	mu       sync.Mutex
	draining bool
	open     int
	fresh    map[net.Conn]time.Time // accepted, no request read yet: since when
	idle     map[net.Conn]time.Time // kept alive between requests: since when
	bodies   map[net.Conn]struct{}  // a request body still arriving
	evicted  int64                  // connections closed by evict
}

// evictAfter is how long a connection must have done nothing before evict may close it.
// A connection accepted a moment ago has usually sent its request already: the server has
// not read it yet. Closed at once, such clients were turned away by the very eviction meant
// to make room for them, in a chain: under a burst, every new client in the backlog.
const evictAfter = time.Second

func newConnTracker() *connTracker {
	ctx, cancel := context.WithCancel(context.Background())
	return &connTracker{drained: ctx, startDrain: cancel, fresh: map[net.Conn]time.Time{}, idle: map[net.Conn]time.Time{},
		bodies: map[net.Conn]struct{}{}}
}

type connKey struct{}

// connContext is the server's ConnContext: it makes the connection findable from its
// requests.
func (t *connTracker) connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// connOf returns the connection a request came on, or nil.
func connOf(r *http.Request) net.Conn {
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	return c
}

// connState is the server's ConnState hook.
func (t *connTracker) connState(c net.Conn, st http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch st {
	case http.StateNew:
		t.open++
		if t.draining {
			c.Close()
			return
		}
		t.fresh[c] = time.Now()
	case http.StateActive:
		delete(t.fresh, c)
		delete(t.idle, c)
	case http.StateIdle:
		delete(t.fresh, c)
		delete(t.bodies, c)
		t.idle[c] = time.Now()
	case http.StateHijacked, http.StateClosed:
		t.open--
		delete(t.fresh, c)
		delete(t.idle, c)
		delete(t.bodies, c)
	}
}

// evict closes the connection kept alive the longest without a request, else the one that
// has waited the longest for its first request, to make room for a client waiting at
// -max-conns; it reports whether there was one. Connections whose request is being read or
// answered are left alone, and so are those doing nothing for less than evictAfter. A
// client that sends a request on a kept-alive connection as it is closed sees the
// connection reset, as at -idle-timeout.
func (t *connTracker) evict() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	cutoff := time.Now().Add(-evictAfter)
	for _, m := range []map[net.Conn]time.Time{t.idle, t.fresh} {
		var oldest net.Conn
		var since time.Time
		for c, at := range m {
			if oldest == nil || at.Before(since) {
				oldest, since = c, at
			}
		}
		if oldest != nil && !since.After(cutoff) {
			delete(m, oldest)
			oldest.Close()
			t.evicted++
			return true
		}
	}
	return false
}

// evictions returns how many connections evict closed.
func (t *connTracker) evictions() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.evicted
}

// beginBody records that c's request body is about to be read and sets its read deadline.
// It returns false when the server is draining: the body is then not to be read. The
// returned done, called once the body was read to its end, clears the deadline (so that it
// cannot end the request while its call runs) and the record. A body never read to its end
// stays recorded, its deadline set, until the connection goes idle or closes: net/http may
// still read some of it after the handler returns.
func (t *connTracker) beginBody(c net.Conn, deadline time.Time) (done func(), ok bool) {
	if c == nil {
		return func() {}, true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.draining {
		return nil, false
	}
	_ = c.SetReadDeadline(deadline)
	t.bodies[c] = struct{}{}
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.bodies, c)
		_ = c.SetReadDeadline(time.Time{})
	}, true
}

// drain starts a drain: connections that have sent no request are closed, the reads of
// bodies still arriving fail at once, and so does every later request; t.drained is
// cancelled. It returns how many connections of each kind it cut.
func (t *connTracker) drain() (fresh, bodies int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.draining = true
	t.startDrain()
	for c := range t.fresh {
		c.Close()
	}
	for c := range t.bodies {
		_ = c.SetReadDeadline(aLongTimeAgo)
	}
	return len(t.fresh), len(t.bodies)
}

// isDraining reports whether drain was called.
func (t *connTracker) isDraining() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.draining
}

// openConns returns the number of open connections.
func (t *connTracker) openConns() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.open
}

// arrivingBodies returns the number of requests whose body is still arriving.
func (t *connTracker) arrivingBodies() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.bodies)
}
