package bridge

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
)

// poolSockets is the part of a Pool that holds its listening sockets (WithListeners).
type poolSockets struct {
	set *listenSet // nil without WithListeners; set before any worker starts

	mu       sync.Mutex // guards closed, reported and the set's reading against close
	closed   bool
	reported map[string]bool // sockets found not listening and logged, by name
}

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
	return nil
}

// checkListening runs when worker r has exited: a socket the pool holds that no longer
// listens is logged as an error, once per socket, naming r. A worker that shut the shared
// socket down (shutdown(2), not close) on its way out un-listened it for every worker,
// present and future, and new connections are refused; ListenSockets reports it too
// (Listening false). One getsockopt per socket, at each exit: nothing runs between exits.
func (p *Pool) checkListening(r *running) {
	if p.sockets.set == nil || p.ctx.Err() != nil {
		return // no sockets, or the pool is stopping and closes them
	}
	p.sockets.mu.Lock()
	var down []ListenSocket
	if !p.sockets.closed {
		for _, d := range p.sockets.set.notListening() {
			if !p.sockets.reported[d.Name] {
				if p.sockets.reported == nil {
					p.sockets.reported = map[string]bool{}
				}
				p.sockets.reported[d.Name] = true
				down = append(down, d)
			}
		}
	}
	p.sockets.mu.Unlock()
	for _, d := range down {
		p.log(slog.LevelError, "listening socket no longer listens: new connections are refused until the pool is restarted",
			"socket", d.Name, "address", d.Address,
			"found_when", fmt.Sprintf("worker %d (pid %d, exited)", r.slot.index, r.w.Pid()),
			"why", "a worker (most likely that one) called shutdown(2) on the socket it inherited, which un-listens it for every process; a worker must close its descriptor instead")
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
	if p.zero() {
		return nil
	}
	p.sockets.mu.Lock()
	defer p.sockets.mu.Unlock()
	if p.sockets.set == nil || p.sockets.closed {
		return nil
	}
	return p.sockets.set.info()
}
