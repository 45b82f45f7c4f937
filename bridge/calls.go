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
	// leads is set while the call's own caller reads the stream (lead). The answer it
	// delivers to itself then keeps its result in the frame (aliased), without a signal on
	// done, and lead decodes it from there before anyone reads on.
	leads, aliased bool
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
	c.leads, c.aliased = false, false
	callPool.Put(c)
}

// An id is a slot's index in its low slotBits bits and the slot's generation above them,
// so finding a call is an index, not a hash, and a late answer to an id given up on never
// reaches the slot's next call: the generation differs. Ids stay unique among the calls in
// flight and wrap at 2^32 as SPEC 4.1 asks.
const (
	slotBits = 20 // at most 2^20 calls in flight on one Conn
	slotMask = 1<<slotBits - 1
)

// callSlot holds one call in flight, or waits for the late answer of a call given up on.
type callSlot struct {
	c         *call
	gen       uint32  // the generation of the id it serves (12 bits)
	abandoned bool    // the caller gave up; the answer, when it comes, is dropped
	settled   settler // for an abandoned call, or nil: told when its answer comes or the table ends
}

// callTable holds the calls this side made that wait for their response.
type callTable struct {
	mu    sync.Mutex
	slots []callSlot
	free  []uint32 // indices of free slots
	err   error    // set once by failAll: every later add fails with it

	// waiting counts the calls in flight, for readers that must not take mu (the
	// reader's backpressure check).
	waiting atomic.Int32
	// onAdd, if set, is called after a call was added, outside mu (wakes the reader).
	onAdd func()
}

func newCallTable() *callTable { return &callTable{} }

// add registers c and returns its id, or the table's terminal error.
func (t *callTable) add(c *call) (uint32, error) {
	t.mu.Lock()
	if t.err != nil {
		err := t.err
		t.mu.Unlock()
		return 0, err
	}
	var idx uint32
	if n := len(t.free); n > 0 {
		idx = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		if len(t.slots) > slotMask {
			t.mu.Unlock()
			return 0, fmt.Errorf("bridge: %d calls in flight on one connection, the most it can track", slotMask+1)
		}
		idx = uint32(len(t.slots))
		t.slots = append(t.slots, callSlot{})
	}
	s := &t.slots[idx]
	s.gen = (s.gen + 1) & (1<<(32-slotBits) - 1)
	s.c = c
	id := s.gen<<slotBits | idx
	t.waiting.Add(1)
	t.mu.Unlock()
	if t.onAdd != nil {
		t.onAdd()
	}
	return id, nil
}

// lookupLocked returns the slot id names, or nil if id is not in use. t.mu must be held.
func (t *callTable) lookupLocked(id uint32) *callSlot {
	idx := id & slotMask
	if int(idx) >= len(t.slots) {
		return nil
	}
	s := &t.slots[idx]
	if s.gen != id>>slotBits || (s.c == nil && !s.abandoned) {
		return nil
	}
	return s
}

// releaseLocked frees callSlot idx. t.mu must be held.
func (t *callTable) releaseLocked(s *callSlot, id uint32) {
	s.c, s.abandoned, s.settled = nil, false, nil
	t.free = append(t.free, id&slotMask)
}

// take removes the call for a response with id. It returns nil and no error for a late
// response to a call given up on (to be dropped), and an error for an id never sent.
func (t *callTable) take(id uint32) (*call, error) {
	t.mu.Lock()
	s := t.lookupLocked(id)
	if s == nil {
		t.mu.Unlock()
		return nil, fmt.Errorf("a response for id %d, which is not a request in flight", id)
	}
	c, gaveUp, settled := s.c, s.abandoned, s.settled
	t.releaseLocked(s, id)
	if !gaveUp {
		t.waiting.Add(-1)
	}
	t.mu.Unlock()
	if gaveUp {
		if settled != nil {
			settled.settled()
		}
		return nil, nil
	}
	return c, nil
}

// forget removes a call that never reached the other side. It reports false if the call
// was already taken out (then its done signal is on its way).
func (t *callTable) forget(id uint32, c *call) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.lookupLocked(id)
	if s == nil || s.c != c || s.abandoned {
		return false
	}
	t.releaseLocked(s, id)
	t.waiting.Add(-1)
	return true
}

// abandon gives up a call the other side has seen: its callSlot waits for the response, which
// is dropped when it comes. It reports false if the call was already answered. settled, if
// not nil, is told once the response comes (on the reader's goroutine) or the table ends:
// when the other side no longer runs the call.
func (t *callTable) abandon(id uint32, c *call, settled settler) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.lookupLocked(id)
	if s == nil || s.c != c || s.abandoned {
		return false
	}
	s.c, s.abandoned, s.settled = nil, true, settled
	t.waiting.Add(-1)
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
	var pending []*call
	var settled []settler
	for i := range t.slots {
		if c := t.slots[i].c; c != nil {
			pending = append(pending, c)
		}
		if s := t.slots[i].settled; s != nil {
			settled = append(settled, s)
		}
	}
	t.slots, t.free = nil, nil
	t.waiting.Store(0)
	t.mu.Unlock()
	for _, c := range pending {
		c.err = err
		c.done <- struct{}{}
	}
	for _, s := range settled {
		s.settled()
	}
}

// len returns the number of calls waiting for a response.
func (t *callTable) len() int { return int(t.waiting.Load()) }
