package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
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

// downSocket is a socket of the pool that no longer listens, and why it could not be
// made to listen again.
type downSocket struct {
	ListenSocket
	err error
}

// checkListening runs when worker r has exited. A worker that shut the shared socket down
// (shutdown(2), not close) on its way out un-listened it for every worker; see
// reviveSockets.
func (p *Pool) checkListening(r *running) {
	p.reviveSockets(fmt.Sprintf("worker %d (pid %d, exited)", r.slot.index, r.w.Pid()))
}

// socketWatchEvery is how often the pool looks at its sockets while a worker stops.
const socketWatchEvery = 50 * time.Millisecond

// stopRunning stops r (stopWorker) and looks at the pool's sockets every socketWatchEvery
// until it has exited (checkListening then looks once more). A worker that shuts the
// shared socket down as it stops, then finishes its requests, kept every worker from new
// connections until it exited: for as long as its drain, at each worker of a reload.
func (p *Pool) stopRunning(r *running) {
	if p.sockets.set == nil {
		_ = p.stopWorker(context.Background(), r.w)
		return
	}
	stopped := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		t := time.NewTicker(socketWatchEvery)
		defer t.Stop()
		for {
			select {
			case <-stopped:
				return
			case <-r.w.Exited():
				return
			case <-p.ctx.Done():
				return
			case <-t.C:
				p.reviveSockets(fmt.Sprintf("worker %d (pid %d, stopping)", r.slot.index, r.w.Pid()))
			}
		}
	}()
	_ = p.stopWorker(context.Background(), r.w)
	close(stopped)
	<-watched
}

// reviveSockets has the pool's sockets that no longer listen listen again; foundWhen says
// when they were found so. A worker that shut the shared socket down (shutdown(2), not
// close) un-listened it for every worker: the pool has a TCP socket listen again
// (heldSocket.relisten) and logs a warning, each time. A socket that cannot be revived (a
// Unix socket, a port taken meanwhile) is logged as an error, once, and ListenSockets
// reports it (Listening false): new connections are refused until the pool is restarted.
// Connections are refused from the shutdown to the revival, and those waiting in the
// accept queue at the shutdown are reset. It costs one getsockopt per socket, at each exit
// of a worker and while one stops; nothing runs otherwise.
func (p *Pool) reviveSockets(foundWhen string) {
	if p.sockets.set == nil || p.ctx.Err() != nil {
		return // no sockets, or the pool is stopping and closes them
	}
	p.sockets.mu.Lock()
	var revived []ListenSocket
	var down []downSocket
	if !p.sockets.closed {
		var all []downSocket
		revived, all = p.sockets.set.revive()
		for _, d := range revived {
			delete(p.sockets.reported, d.Name) // a later fault is logged again
		}
		for _, d := range all {
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
	const why = "a worker (most likely that one) called shutdown(2) on the socket it inherited, which un-listens it for every process; a worker must close its descriptor instead"
	for _, d := range revived {
		p.log(slog.LevelWarn, "listening socket had stopped listening; it listens again (connections were refused meanwhile)",
			"socket", d.Name, "address", d.Address, "found_when", foundWhen, "why", why)
	}
	for _, d := range down {
		p.log(slog.LevelError, "listening socket no longer listens: new connections are refused until the pool is restarted",
			"socket", d.Name, "address", d.Address, "found_when", foundWhen, "why", why, "not_revived", d.err.Error())
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
