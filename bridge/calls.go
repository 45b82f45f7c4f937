package bridge

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// call is one request in flight. Whoever takes it out of the table (the reader with the
// response, failAll, or the caller giving up) owns it; the first two signal done once. The
// caller recycles it when it is done with it.
type call struct {
	method string
	done   chan struct{} // buffered: one signal, the answer is in result or err
	result []byte
	err    error
}

var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

func newCall(method string) *call {
	c := callPool.Get().(*call)
	c.method = method
	return c
}

// recycle returns a call whose signal was consumed, or was never sent and never will be.
func (c *call) recycle() {
	c.method, c.result, c.err = "", nil, nil
	callPool.Put(c)
}

// callTable holds the calls this side made that wait for their response, keyed by id. Ids
// count up and wrap at 2^32, skipping ids still in use (SPEC 4.1). An id given up on stays
// reserved until its late response arrives, which is then dropped.
type callTable struct {
	mu        sync.Mutex
	nextID    uint32
	pending   map[uint32]*call
	abandoned map[uint32]struct{}
	err       error // set once by failAll: every later add fails with it

	// waiting mirrors len(pending) for readers that must not take mu (the reader's
	// backpressure check).
	waiting atomic.Int32
	// onAdd, if set, is called after a call was added, outside mu (wakes the reader).
	onAdd func()
}

func newCallTable() *callTable {
	return &callTable{pending: map[uint32]*call{}, abandoned: map[uint32]struct{}{}}
}

// add registers c and returns its id, or the table's terminal error.
func (t *callTable) add(c *call) (uint32, error) {
	t.mu.Lock()
	if t.err != nil {
		err := t.err
		t.mu.Unlock()
		return 0, err
	}
	id := t.allocLocked()
	t.pending[id] = c
	t.waiting.Add(1)
	t.mu.Unlock()
	if t.onAdd != nil {
		t.onAdd()
	}
	return id, nil
}

// allocLocked returns an id not in use. t.mu must be held.
func (t *callTable) allocLocked() uint32 {
	for {
		t.nextID++
		id := t.nextID
		if _, busy := t.pending[id]; busy {
			continue
		}
		if _, busy := t.abandoned[id]; busy {
			continue
		}
		return id
	}
}

// take removes the call for a response with id. It returns nil and no error for a late
// response to a call given up on (to be dropped), and an error for an id never sent.
func (t *callTable) take(id uint32) (*call, error) {
	t.mu.Lock()
	c, ok := t.pending[id]
	if ok {
		delete(t.pending, id)
		t.waiting.Add(-1)
		t.mu.Unlock()
		return c, nil
	}
	_, gaveUp := t.abandoned[id]
	delete(t.abandoned, id)
	t.mu.Unlock()
	if gaveUp {
		return nil, nil
	}
	return nil, fmt.Errorf("a response for id %d, which is not a request in flight", id)
}

// forget removes a call that never reached the other side. It reports false if the call
// was already taken out (then its done signal is on its way).
func (t *callTable) forget(id uint32, c *call) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending[id] != c {
		return false
	}
	delete(t.pending, id)
	t.waiting.Add(-1)
	return true
}

// abandon removes a call the other side has seen: its response will be dropped when it
// comes. It reports false if the call was already answered.
func (t *callTable) abandon(id uint32, c *call) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending[id] != c {
		return false
	}
	delete(t.pending, id)
	t.waiting.Add(-1)
	if t.err == nil {
		t.abandoned[id] = struct{}{}
	}
	return true
}

// failAll ends the table: every pending call and every later add gets err. Only the first
// call has an effect.
func (t *callTable) failAll(err error) {
	t.mu.Lock()
	if t.err != nil {
		t.mu.Unlock()
		return
	}
	t.err = err
	pending := t.pending
	t.pending = map[uint32]*call{}
	t.abandoned = map[uint32]struct{}{}
	t.waiting.Store(0)
	t.mu.Unlock()
	for _, c := range pending {
		c.err = err
		c.done <- struct{}{}
	}
}

// len returns the number of calls waiting for a response.
func (t *callTable) len() int { return int(t.waiting.Load()) }
