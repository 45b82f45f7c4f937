package bridge

import (
	"context"
	"fmt"
	"sync"
)

// How far handlers may fall behind the reader. Below the soft limits the reader reads on;
// past them it stops reading (the other side's writes then block: backpressure), unless a
// call this side made is waiting for its response, because the response may be behind the
// backlog in the stream and a handler may be the one waiting for it. Reading on past the
// hard limits would be unbounded memory, so the session ends there with an error that says
// which handlers fell behind.
const (
	softBacklogItems = 1024
	softBacklogBytes = 64 << 20
	hardBacklogItems = 64 * softBacklogItems
	hardBacklogBytes = 4 * softBacklogBytes
	// maxServing is how many requests from the other side may run at once; later ones wait
	// in the backlog.
	maxServing = 1024
)

// inbox is the work the reader hands to handlers: notifications, run one at a time in
// order by the notification goroutine, and requests beyond maxServing, waiting for a
// handler goroutine to finish. It counts what waits (items and bytes of params) for the
// reader's backpressure.
type inbox struct {
	mu      sync.Mutex
	notes   []notification // FIFO, run by notifyLoop
	reqs    []request      // FIFO, taken by request goroutines as they finish
	items   int
	bytes   int
	ended   bool
	kick    chan struct{} // capacity 1: notes is not empty, or the inbox ended
	room    chan struct{} // closed when the backlog shrinks; nil if the reader is not waiting
	paused  bool          // the reader waits in waitRoom for handlers to catch up
	pauses  uint64        // times the reader has paused so
	taken   uint64        // items handlers have taken so far
	running int           // request goroutines

	handling  bool            // notifyLoop is running a handler
	noteIdles []chan struct{} // closed once no notification waits or runs
}

type notification struct {
	method string
	args   Args
}

// request is a request from the other side, waiting to be run.
type request struct {
	id       uint32
	method   string
	args     Args
	ctx      context.Context // cancelled by $cancel or the end of the session
	stopping bool            // it arrived after $stop: answer Stopping, do not run it
}

func newInbox() *inbox { return &inbox{kick: make(chan struct{}, 1)} }

// backlog reports how many items handlers have taken, how many times the reader has paused
// in waitRoom for them to catch up, and whether it is paused now.
func (in *inbox) backlog() (taken, pauses uint64, paused bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.taken, in.pauses, in.paused
}

// overSoftLocked reports whether the backlog is past the soft limits.
func (in *inbox) overSoftLocked() bool {
	return in.items >= softBacklogItems || in.bytes >= softBacklogBytes
}

// waitRoom blocks the reader while the backlog is past the soft limits and no call of this
// side waits for a response (callsWaiting), then checks the hard limits. wake returns a
// channel that is closed when a call is added from then on, so that the reader reads on; it
// is taken before callsWaiting is checked, so no call slips between the two. It returns an
// error when the session must end.
func (in *inbox) waitRoom(callsWaiting func() bool, wake func() <-chan struct{}, done <-chan struct{}) error {
	for {
		in.mu.Lock()
		if !in.overSoftLocked() || in.ended {
			break
		}
		in.mu.Unlock()
		w := wake()
		in.mu.Lock()
		if !in.overSoftLocked() || in.ended || callsWaiting() {
			break
		}
		if in.room == nil {
			in.room = make(chan struct{})
		}
		room := in.room
		in.paused = true
		in.pauses++
		in.mu.Unlock()
		select {
		case <-room:
		case <-w:
		case <-done:
		}
		in.mu.Lock()
		in.paused = false
		in.mu.Unlock()
		select {
		case <-done:
			return nil
		default:
		}
	}
	defer in.mu.Unlock()
	if in.items >= hardBacklogItems || in.bytes >= hardBacklogBytes {
		return fmt.Errorf("handlers fell behind: %d notifications and requests (%d bytes of params) wait for a handler "+
			"while calls to the other side wait for responses behind them in the stream; a handler must not wait for "+
			"work that only later notifications can finish, and slow handlers should hand work to goroutines of their own",
			in.items, in.bytes)
	}
	return nil
}

// shrankLocked wakes the reader if it waits for room. in.mu must be held.
func (in *inbox) shrankLocked() {
	if in.room != nil && !in.overSoftLocked() {
		close(in.room)
		in.room = nil
	}
}

// pushNote queues a notification for notifyLoop.
func (in *inbox) pushNote(n notification) {
	in.mu.Lock()
	if in.ended {
		in.mu.Unlock()
		return
	}
	in.notes = append(in.notes, n)
	in.items++
	in.bytes += len(n.args.raw)
	in.mu.Unlock()
	in.poke()
}

// popNote returns the next notification, or false when there is none (yet).
func (in *inbox) popNote() (notification, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.notes) == 0 {
		return notification{}, false
	}
	n := in.notes[0]
	in.notes[0] = notification{}
	in.notes = in.notes[1:]
	if len(in.notes) == 0 {
		in.notes = nil // let the backing array go
	}
	in.items--
	in.taken++
	in.bytes -= len(n.args.raw)
	in.shrankLocked()
	in.handling = true
	return n, true
}

// handled is called by notifyLoop after a handler returned.
func (in *inbox) handled() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.handling = false
	if len(in.notes) == 0 {
		in.notesDoneLocked()
	}
}

// notesIdle returns a channel closed once no notification waits for its handler or runs.
func (in *inbox) notesIdle() <-chan struct{} {
	in.mu.Lock()
	defer in.mu.Unlock()
	ch := make(chan struct{})
	if len(in.notes) == 0 && !in.handling {
		close(ch)
	} else {
		in.noteIdles = append(in.noteIdles, ch)
	}
	return ch
}

// startRequest reports whether a request goroutine may start for r now; otherwise r is
// queued for the next goroutine that finishes.
func (in *inbox) startRequest(r request) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.running < maxServing {
		in.running++
		return true
	}
	in.reqs = append(in.reqs, r)
	in.items++
	in.bytes += len(r.args.raw)
	return false
}

// nextRequest is called by a request goroutine that finished: it returns a queued request
// to run next, or false (and the goroutine ends).
func (in *inbox) nextRequest() (request, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.reqs) == 0 || in.ended {
		in.running--
		return request{}, false
	}
	r := in.reqs[0]
	in.reqs[0] = request{}
	in.reqs = in.reqs[1:]
	in.items--
	in.taken++
	in.bytes -= len(r.args.raw)
	in.shrankLocked()
	return r, true
}

// empty reports whether no notification waits.
func (in *inbox) empty() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.notes) == 0
}

// drop drops the notifications that wait for their handler (the session has ended, or
// ends) and reports how many there were and whether a handler runs now.
func (in *inbox) drop() (dropped int, running bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	dropped = in.dropNotesLocked()
	in.shrankLocked()
	in.poke()
	return dropped, in.handling
}

// dropNotesLocked drops the notifications that wait for their handler, takes them off the
// backlog, and releases whoever waits in notesIdle. in.mu must be held.
func (in *inbox) dropNotesLocked() int {
	dropped := len(in.notes)
	for _, n := range in.notes {
		in.bytes -= len(n.args.raw)
	}
	in.items -= dropped
	in.notes = nil
	in.notesDoneLocked()
	return dropped
}

// notesDoneLocked closes the channels notesIdle handed out. in.mu must be held.
func (in *inbox) notesDoneLocked() {
	for _, ch := range in.noteIdles {
		close(ch)
	}
	in.noteIdles = nil
}

// poke wakes notifyLoop, without blocking: kick holds one wake-up at most.
func (in *inbox) poke() {
	select {
	case in.kick <- struct{}{}:
	default:
	}
}

// end takes no more work and wakes everyone. Queued requests are dropped (the session is
// over: nobody can receive their answers) and returned, so that their ids can be released;
// queued notifications are dropped too with drop, else left for notifyLoop to run.
func (in *inbox) end(drop bool) []request {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.ended {
		return nil
	}
	in.ended = true
	reqs := in.reqs
	in.reqs = nil
	if drop {
		in.dropNotesLocked()
	}
	in.items, in.bytes = len(in.notes), 0
	for _, n := range in.notes {
		in.bytes += len(n.args.raw)
	}
	if in.room != nil {
		close(in.room)
		in.room = nil
	}
	in.poke()
	return reqs
}
