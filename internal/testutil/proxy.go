package testutil

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy forwards TCP connections to a NATS server, and can stop forwarding (pause), close
// every connection (cut), and slow the bytes down (delay, throttle): the network between a
// caller or an agent and the server, for tests of what crosses a network.
type Proxy struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	cond     *sync.Cond
	paused   bool
	delay    time.Duration // before each chunk forwarded
	chunk    int           // throttle: at most this many bytes per read (0: 32 KiB)
	conns    map[net.Conn]struct{}
	gen      int  // connections accepted so far
	deadTo   int  // connections with a number below this are black holes
	cutNext  bool // the next chunk forwarded to a client is the last (CutAfterNextToClient)
	closed   bool
	accepted int
	wg       sync.WaitGroup
}

// NewProxy starts a proxy to target (host:port), stopped at the end of the test.
func NewProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// URL is the NATS URL that reaches the server through the proxy.
func (p *Proxy) URL() string { return "nats://" + p.ln.Addr().String() }

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		p.accepted++
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		n := p.gen
		p.gen++
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(s, c, n, false)
		go p.pipe(c, s, n, true)
	}
}

// pipe copies from src to dst until either fails, then closes both; the connection
// numbered n, toClient when dst is the client's end.
func (p *Proxy) pipe(dst, src net.Conn, n int, toClient bool) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		dead := n < p.deadTo
		p.mu.Unlock()
		if dead {
			return // a black hole: the other end never learns (Close closes it)
		}
		dst.Close()
		src.Close()
		p.mu.Lock()
		delete(p.conns, dst)
		delete(p.conns, src)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		p.mu.Lock()
		size := len(buf)
		if p.chunk > 0 {
			size = p.chunk
		}
		p.mu.Unlock()
		k, err := src.Read(buf[:size])
		if k > 0 {
			p.mu.Lock()
			for p.paused && !p.closed {
				p.cond.Wait()
			}
			closed, delay, dead := p.closed, p.delay, n < p.deadTo
			last := toClient && p.cutNext
			if last {
				p.cutNext = false
			}
			p.mu.Unlock()
			if closed {
				return
			}
			if dead {
				continue
			}
			if delay > 0 {
				time.Sleep(delay)
			}
			if _, err := dst.Write(buf[:k]); err != nil || last {
				return // last: the client reads this chunk, then the end of the connection
			}
		}
		if err != nil {
			return
		}
	}
}

// Pause stops forwarding: bytes read are held, and reading stops, until resume.
func (p *Proxy) Pause() {
	p.mu.Lock()
	p.paused = true
	p.mu.Unlock()
}

// Resume forwards again.
func (p *Proxy) Resume() {
	p.mu.Lock()
	p.paused = false
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Slow delays each chunk by delay and reads at most chunk bytes at a time (0: as before).
func (p *Proxy) Slow(delay time.Duration, chunk int) {
	p.mu.Lock()
	p.delay, p.chunk = delay, chunk
	p.mu.Unlock()
}

// Blackhole makes the connections open so far drop everything, for good, without either
// end learning it (as a NAT or firewall that lost their state does); new connections work.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	p.deadTo = p.gen
	p.mu.Unlock()
}

// CutAfterNextToClient has the next chunk forwarded from the server to a client be the
// last on its connection: the connection is closed right after it, so that the client
// reads what the chunk holds (answers, say) and then the end of its connection.
func (p *Proxy) CutAfterNextToClient() {
	p.mu.Lock()
	p.cutNext = true
	p.mu.Unlock()
}

// Cut closes every connection through the proxy; new ones are still taken.
func (p *Proxy) Cut() {
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}

// Close stops the proxy and its connections and waits for its goroutines.
func (p *Proxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
