package remote

import (
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// pcall is one request of a remote pool waiting for its answer. Whoever takes it out of
// the table (the inbox with the answer, the watchdog, a lost connection, Close) owns it and
// signals done once.
type pcall struct {
	done  chan struct{} // buffered: one signal; then msg or err is set
	msg   *nats.Msg
	err   error
	heard time.Time // when the request went out or the last beat came; under the table's mu
	agent string    // the agent that beat, "host id", or ""; under the table's mu
}

var pcallPool = sync.Pool{New: func() any { return &pcall{done: make(chan struct{}, 1)} }}

// recycle returns a call whose signal was consumed, or was never sent and never will be.
func (c *pcall) recycle() {
	c.msg, c.err, c.agent = nil, nil, ""
	pcallPool.Put(c)
}

// callTable holds the requests in flight, keyed by the token that ends their reply subject.
type callTable struct {
	mu      sync.Mutex
	next    uint64
	pending map[string]*pcall
	err     error // set by close: every later add fails with it
}

func newCallTable() *callTable { return &callTable{pending: map[string]*pcall{}} }

// add registers a new call and returns it with its token, or the table's terminal error.
func (t *callTable) add(now time.Time) (*pcall, string, error) {
	c := pcallPool.Get().(*pcall)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		pcallPool.Put(c)
		return nil, "", t.err
	}
	t.next++
	token := strconv.FormatUint(t.next, 36)
	c.heard = now
	t.pending[token] = c
	return c, token, nil
}

// answer delivers the final message for token; a message for a call no longer waiting (it
// gave up, or was failed) is dropped.
func (t *callTable) answer(token string, m *nats.Msg) {
	t.mu.Lock()
	c := t.pending[token]
	delete(t.pending, token)
	t.mu.Unlock()
	if c != nil {
		c.msg = m
		c.done <- struct{}{}
	}
}

// beat records a sign of life from the agent running token's call.
func (t *callTable) beat(token string, now time.Time, agent string) {
	t.mu.Lock()
	if c := t.pending[token]; c != nil {
		c.heard = now
		c.agent = agent
	}
	t.mu.Unlock()
}

// forget removes a call its caller gave up on. It reports false if the call was already
// taken out (then its done signal is on its way).
func (t *callTable) forget(token string, c *pcall) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending[token] != c {
		return false
	}
	delete(t.pending, token)
	return true
}

// drop takes out a call its caller gave up on and recycles it, once its done signal has
// come if it was already taken out.
func (t *callTable) drop(token string, c *pcall) {
	if !t.forget(token, c) {
		<-c.done
	}
	c.recycle()
}

// expire fails, with what errFor returns, every call not heard from since before cutoff,
// and returns their tokens.
func (t *callTable) expire(cutoff time.Time, errFor func(agent string) error) []string {
	t.mu.Lock()
	var dead []*pcall
	var tokens []string
	for token, c := range t.pending {
		if c.heard.Before(cutoff) {
			delete(t.pending, token)
			dead = append(dead, c)
			tokens = append(tokens, token)
			c.err = errFor(c.agent)
		}
	}
	t.mu.Unlock()
	for _, c := range dead {
		c.done <- struct{}{}
	}
	return tokens
}

// failAll fails every call in flight with err, and returns their tokens; with final,
// every later add fails with it too.
func (t *callTable) failAll(err error, final bool) []string {
	t.mu.Lock()
	if t.err != nil {
		t.mu.Unlock()
		return nil
	}
	if final {
		t.err = err
	}
	pending := t.pending
	t.pending = map[string]*pcall{}
	t.mu.Unlock()
	tokens := make([]string, 0, len(pending))
	for token, c := range pending {
		tokens = append(tokens, token)
		c.err = err
		c.done <- struct{}{}
	}
	return tokens
}

// len returns the number of calls in flight.
func (t *callTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending)
}
