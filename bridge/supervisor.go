package bridge

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"
)

// slot is one worker position: its goroutine keeps a worker running in it, restarting it
// with backoff.
type slot struct {
	index    int
	current  *running // ready to take calls, or nil
	state    workerState
	restarts int
	failures int // consecutive, for the backoff
	lastExit string
	replace  chan chan error // Reload: start a new worker, then retire the current one
	kick     chan *running   // this worker was retired: start a replacement now
}

// failureCount counts failures with a decay that halves the count every halfLife, as
// thejerf/suture does: a pool that fails now and then never adds up to a crash loop, one
// that fails in a burst does.
type failureCount struct {
	value    float64
	last     time.Time
	halfLife time.Duration
}

func (f *failureCount) at(now time.Time) float64 {
	if !f.last.IsZero() && f.value > 0 {
		f.value *= math.Exp2(-float64(now.Sub(f.last)) / float64(f.halfLife))
	}
	f.last = now
	return f.value
}

func (f *failureCount) add(now time.Time) { f.value = f.at(now) + 1 }

// supervise keeps one worker running in slot s until the pool stops. first receives the
// outcome of the first start.
func (p *Pool) supervise(s *slot, first chan<- error) {
	defer p.wg.Done()
	var r *running
	for {
		if r == nil {
			nr, err := p.startWorker(s)
			if err == nil {
				r = nr
				p.install(s, r)
			}
			if first != nil {
				first <- err // after install: NewPool returns with its workers in place
				first = nil
			}
			if err != nil {
				if errors.Is(err, ErrClosed) || !p.sleep(p.startFailed(s, err)) {
					p.setState(s, stateStopped)
					return
				}
				continue
			}
		}
		select {
		case <-r.w.Exited(): // not Done: the host may take long over what it sent (see exited)
			delay, unexpected := p.exited(s, r)
			p.checkListening(r)
			r = nil
			if unexpected && !p.sleep(delay) {
				p.setState(s, stateStopped)
				return
			}
		case k := <-s.kick:
			if k == r {
				r = nil // retired by a limit: start its replacement now
			}
		case reply := <-s.replace:
			nr, err := p.startWorker(s)
			if err == nil {
				err = p.settle(nr)
			}
			if err != nil {
				p.setState(s, stateReady) // the old worker carries on
				reply <- err
				continue
			}
			old := r
			r = nr
			p.install(s, r)
			p.mu.Lock()
			p.retireLocked(old)
			p.mu.Unlock()
			reply <- nil
		case <-p.ctx.Done():
			p.setState(s, stateStopped)
			return
		}
	}
}

// reloadSettle is how long a replacement started by Reload must stay up, when the pool's
// workers have no channel (ChannelNone), before the worker it replaces is retired.
const reloadSettle = time.Second

// settle waits, for a worker without a channel, until it has been up for reloadSettle; it
// returns an error if the worker exits before. Such a worker counts as ready once started,
// so Reload retired every worker of a cluster for a new command that exits at once (a
// broken deploy): the service went down in a moment, every slot crash-looping. A worker
// with a channel is ready when it says so ($ready), and is not held.
func (p *Pool) settle(r *running) error {
	if p.procCfg.channel != ChannelNone || p.cfg.starter != nil {
		return nil
	}
	t := time.NewTimer(reloadSettle) // the wall clock: the worker is a real process
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-r.w.Exited():
		err := r.w.Wait()
		if err == nil {
			err = errors.New("it exited with status 0")
		}
		return fmt.Errorf("the new worker (pid %d) exited within %v of its start, so the old one was kept: %w", r.w.Pid(), reloadSettle, err)
	case <-p.ctx.Done():
		_ = r.w.Kill()
		_ = r.w.Wait()
		return ErrClosed
	}
}

// startWorker starts one worker for slot s.
func (p *Pool) startWorker(s *slot) (*running, error) {
	if p.ctx.Err() != nil {
		return nil, ErrClosed
	}
	p.setState(s, stateStarting)
	name := fmt.Sprintf("%s#%d", p.name, s.index)
	var w worker
	var err error
	if p.cfg.starter != nil {
		w, err = p.cfg.starter(p.ctx, name)
	} else {
		cc := p.connCfg
		cc.name = name
		var proc *Process
		if proc, err = startProcess(p.ctx, p.argv, cc, p.procConfigFor(s)); err == nil {
			w = proc
		}
	}
	if err != nil {
		if p.ctx.Err() != nil {
			if w != nil {
				_ = w.Kill()
			}
			return nil, ErrClosed
		}
		return nil, err
	}
	r := &running{slot: s, w: w, started: p.clk.Now(), lastUsed: p.clk.Tick(), window: 1}
	if n := p.cfg.maxJobs; n > 0 {
		r.maxJobs = n + rand.IntN(n/10+1)
	}
	if d := p.cfg.maxLifetime; d > 0 {
		r.lifetime = d + time.Duration(rand.Int64N(int64(d)/10+1))
	}
	return r, nil
}

// install makes r the slot's ready worker and gives it waiting calls.
func (p *Pool) install(s *slot, r *running) {
	rss, rssErr := r.w.RSS()
	p.mu.Lock()
	defer p.mu.Unlock()
	if rssErr == nil {
		r.rss = rss
	}
	s.current = r
	s.state = stateReady
	p.startErr = nil
	p.log(slog.LevelInfo, "worker started", "worker", s.index, "pid", r.w.Pid())
	if p.looping {
		p.looping = false
		p.log(slog.LevelInfo, "pool recovered from its crash loop: a worker started")
	}
	if p.closed && p.ctx.Err() != nil {
		// Closing: this worker is only here to be stopped.
		go p.stopRunning(r)
		return
	}
	p.dispatchLocked(p.clk.Tick())
}

// startFailed records a failed start and returns the delay before the next one.
func (p *Pool) startFailed(s *slot, err error) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	s.lastExit = err.Error()
	p.startErr = err
	p.noteFailureLocked(s, err)
	delay := p.backoffLocked(s, false)
	s.state = stateBackoff
	p.log(slog.LevelWarn, "worker failed to start", "worker", s.index, "err", err.Error(), "retry_in", delay)
	if !p.anyReadyLocked() {
		p.failWaitersLocked(p.unavailableLocked())
	}
	return delay
}

// exitSettle bounds how long the pool waits, after a worker's process exited, for the
// worker to be done (Process.Done: its stderr relayed, the messages it sent handled), to
// learn how it ended before replacing it. Done comes at once unless the host's handlers
// are still working through a backlog of the worker's messages, which may take minutes:
// the slot must not stay empty meanwhile.
const exitSettle = 2 * time.Second

// isDone reports whether ch is closed, without waiting.
func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// exited handles the end of worker r, whose process exited: it reports whether the exit
// was unexpected (then the slot backs off for the returned delay).
func (p *Pool) exited(s *slot, r *running) (time.Duration, bool) {
	var err error
	// The wall clock, not the pool's: tests on a fake clock read its timers as backoffs.
	t := time.NewTimer(exitSettle)
	select {
	case <-r.w.Done():
	case <-t.C:
	case <-p.ctx.Done(): // Close or Kill: they wait for it themselves
	}
	t.Stop()
	if isDone(r.w.Done()) {
		err = r.w.Wait()
	} else {
		err = fmt.Errorf("bridge: worker %s (pid %d) exited; the host is still handling what it sent, "+
			"so its exit status is not known yet (it is logged when known)", r.w.Name(), r.w.Pid())
		placeholder := err.Error()
		p.mu.Lock()
		p.retiring[r] = struct{}{} // Close and Kill wait for it
		p.mu.Unlock()
		p.forgetWhenDone(r, func() {
			werr := r.w.Wait()
			status := "exited with status 0"
			if werr != nil {
				status = werr.Error()
			}
			p.mu.Lock()
			if s.lastExit == placeholder {
				s.lastExit = status
			}
			p.mu.Unlock()
			p.log(slog.LevelInfo, "worker's exit status, now known", "worker", s.index, "pid", r.w.Pid(), "status", status)
		})
	}
	uptime := p.elapsed(r.started)
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.current == r {
		s.current = nil
	}
	if err != nil {
		s.lastExit = err.Error()
	} else {
		s.lastExit = "exited with status 0"
	}
	if r.retiring || p.ctx.Err() != nil {
		return 0, false
	}
	s.restarts++
	if err == nil {
		err = fmt.Errorf("bridge: worker %s exited with status 0 on its own", r.w.Name())
	}
	healthy := uptime >= p.cfg.healthyAfter || r.jobs >= healthyJobs
	if healthy {
		p.lastFail = err // a working worker that died: restarted at once, no crash loop
	} else {
		p.noteFailureLocked(s, err)
	}
	s.state = stateBackoff
	delay := p.backoffLocked(s, healthy)
	p.log(slog.LevelWarn, "worker exited; restarting", "worker", s.index, "pid", r.w.Pid(), "err", err.Error(),
		"uptime", uptime, "retry_in", delay)
	if !p.anyReadyLocked() {
		p.failWaitersLocked(p.unavailableLocked())
	}
	p.checkDrainedLocked()
	return delay, true
}

// noteFailureLocked counts a failure toward the crash-loop threshold, which scales with
// the number of workers: the pool is crash-looping once the decayed count passes it, until
// a worker starts again.
func (p *Pool) noteFailureLocked(s *slot, err error) {
	now := p.clk.Now()
	p.lastFail = err
	p.failures.add(now)
	if !p.looping && p.failures.at(now) > float64(p.cfg.crashRestarts*len(p.slots)) {
		p.looping = true
		p.log(slog.LevelError, "pool is crash-looping", "failures", int(p.failures.value), "last", err.Error())
	}
}

// healthyJobs is how many calls a worker must have answered for its run to count as
// healthy whatever its uptime: it was working, so its death says nothing about the command
// being broken (it was killed, it ran out of memory), and it neither backs off nor counts
// toward a crash loop.
const healthyJobs = 100

// backoffLocked returns the delay before restarting slot s: none after a healthy run, then
// doubling from the minimum to the maximum, with jitter.
func (p *Pool) backoffLocked(s *slot, healthy bool) time.Duration {
	if healthy {
		s.failures = 0
	}
	s.failures++
	if s.failures == 1 {
		return 0
	}
	// min doubled (failures-2) times, but never past max: the shift is taken only when it
	// stays below max, so a long min cannot overflow into a short (or negative) delay.
	d := p.cfg.maxBackoff
	if shift := min(s.failures-2, 30); p.cfg.minBackoff <= p.cfg.maxBackoff>>shift {
		d = p.cfg.minBackoff << shift
	}
	return jitter(d)
}

// jitter spreads d over [0.75d, 1.25d), capped at the longest Duration: d*3/4 overflowed for
// a d above a third of it (a backoff of 100 years became negative: no wait at all).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	low, spread := d-d/4, int64(d)/2+1
	if spread > math.MaxInt64-int64(low) {
		spread = math.MaxInt64 - int64(low)
	}
	if spread <= 0 {
		return low
	}
	return low + time.Duration(rand.Int64N(spread))
}

// sleep waits d on the pool's clock, or until the pool stops (then it returns false).
func (p *Pool) sleep(d time.Duration) bool {
	if d <= 0 {
		return p.ctx.Err() == nil
	}
	c, t := p.clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-c:
		return true
	case <-p.ctx.Done():
		return false
	}
}

func (p *Pool) setState(s *slot, state workerState) {
	p.mu.Lock()
	s.state = state
	p.mu.Unlock()
}

// unavailableLocked is the error for calls when no worker is ready, or nil if they should
// wait (workers are starting).
func (p *Pool) unavailableLocked() error {
	now := p.clk.Now()
	if p.looping {
		return &CrashLoopError{Failures: int(p.failures.at(now)), Window: p.cfg.crashWindow, Last: p.lastFail}
	}
	if p.startErr != nil {
		return fmt.Errorf("%w: the last worker start failed: %w", ErrUnavailable, p.startErr)
	}
	return nil
}
