package bridge

import (
	"slices"
	"sync"
)

// poolSockets is the part of a Pool that holds its listening sockets (WithListeners).
type poolSockets struct {
	set *listenSet // nil without WithListeners; set before any worker starts

	mu     sync.Mutex // guards closed and the set's reading by ListenSockets against close
	closed bool
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
