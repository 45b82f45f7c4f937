package bridge

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// poolSockets is the part of a Pool that holds its listening sockets (WithListeners).
type poolSockets struct {
	set *listenSet // nil without WithListeners; set before any worker starts

	mu     sync.Mutex // guards closed and the set's reading by ListenSockets against close
	closed bool
}

// listenCheckEvery is how often the pool checks that its sockets still listen, and
// notes which workers exited since: a worker that un-listened a socket is named within
// this long of its exit.
const listenCheckEvery = 100 * time.Millisecond

// openListeners binds or adopts the sockets of WithListeners, before any worker starts.
func (p *Pool) openListeners() error {
	if len(p.cfg.listen.specs) == 0 {
		return nil
	}
	set, err := openListenSet(p.cfg.listen, p.cfg.workers)
	if err != nil {
		return err
	}
	p.sockets.set = set
	p.wg.Add(1)
	go p.watchListeners()
	return nil
}

// watchListeners checks, every listenCheckEvery until the pool stops, that the sockets
// still listen, and logs an error for one that no longer does, once, naming the workers
// that exited since the sockets were last seen listening and those being stopped: a worker that shut the shared
// socket down (shutdown(2), not close) on its way out un-listened it for every worker,
// present and future, and new connections are refused. ListenSockets reports it too
// (Listening false).
func (p *Pool) watchListeners() {
	defer p.wg.Done()
	tick := time.NewTicker(listenCheckEvery)
	defer tick.Stop()
	seen := map[*running]bool{} // the workers running at the last check
	var exited []string         // the workers that exited since the sockets last listened
	reported := map[string]bool{}
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-tick.C:
		}
		var stopping []string // workers asked to stop: one shutting the socket down on its way out
		p.mu.Lock()
		for _, s := range p.slots {
			if s.current != nil {
				seen[s.current] = true
			}
		}
		for r := range p.retiring {
			seen[r] = true
			stopping = append(stopping, fmt.Sprintf("worker %d (pid %d, stopping)", r.slot.index, r.w.Pid()))
		}
		p.mu.Unlock()
		for r := range seen {
			select {
			case <-r.w.Done():
				exited = append(exited, fmt.Sprintf("worker %d (pid %d, exited)", r.slot.index, r.w.Pid()))
				if len(exited) > 8 {
					exited = exited[len(exited)-8:] // the latest: the one to blame is among them
				}
				delete(seen, r)
			default:
			}
		}
		p.sockets.mu.Lock()
		var down []ListenSocket
		if !p.sockets.closed {
			down = p.sockets.set.notListening()
		}
		p.sockets.mu.Unlock()
		if len(down) == 0 || p.ctx.Err() != nil {
			exited = exited[:0]
			continue
		}
		for _, d := range down {
			if reported[d.Name] {
				continue
			}
			reported[d.Name] = true
			by := "a worker still running"
			if suspects := append(slices.Clip(exited), stopping...); len(suspects) > 0 {
				by = "one of the workers that exited or were stopping when it was seen: " + strings.Join(suspects, ", ")
			}
			p.log(slog.LevelError, "listening socket no longer listens: new connections are refused until the pool is restarted",
				"socket", d.Name, "address", d.Address, "shut_down_by", by,
				"why", "a worker called shutdown(2) on the socket it inherited, which un-listens it for every process; a worker must close its descriptor instead")
		}
	}
}

// procConfigFor returns the settings of the process started in slot s: the pool's, plus
// the slot's listening sockets as descriptors 3, 4, ... with their LISTEN_* variables.
func (p *Pool) procConfigFor(s *slot) procConfig {
	pc := p.procCfg
	if p.sockets.set == nil {
		return pc
	}
	pc.extraFiles = append(slices.Clip(pc.extraFiles), p.sockets.set.filesFor(s.index)...)
	pc.extraEnv = append(slices.Clip(pc.extraEnv), listenEnv(p.sockets.set.names())...)
	pc.listenPID = true
	return pc
}

// closeListeners closes the pool's descriptors of its sockets, once every worker is gone
// (the sockets close with the last descriptor). Safe to call more than once.
func (p *Pool) closeListeners() {
	p.sockets.mu.Lock()
	defer p.sockets.mu.Unlock()
	if p.sockets.set != nil && !p.sockets.closed {
		p.sockets.set.close()
	}
	p.sockets.closed = true
}

// ListenSockets describes the sockets the pool passes to its workers (WithListeners), in
// descriptor order, with their accept queues as they are now; nil without listeners and
// once the pool has closed them (when its last worker is gone).
func (p *Pool) ListenSockets() []ListenSocket {
	p.sockets.mu.Lock()
	defer p.sockets.mu.Unlock()
	if p.sockets.set == nil || p.sockets.closed {
		return nil
	}
	return p.sockets.set.info()
}
