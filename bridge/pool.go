package bridge

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Pool errors, matched with errors.Is.
var (
	// ErrSaturated: every worker is busy and the queue is full, or the call's context
	// ended while it waited in the queue. The call never reached a worker.
	ErrSaturated = errors.New("bridge: pool saturated")
	// ErrUnavailable: no worker is ready and the last start failed, or the pool is
	// crash-looping. The call never reached a worker.
	ErrUnavailable = errors.New("bridge: no worker available")
	// ErrCrashLooping is matched by the error calls get while the pool is crash-looping;
	// it also matches ErrUnavailable.
	ErrCrashLooping = errors.New("bridge: pool is crash-looping")
	// ErrExecTimeout is matched by a call that exceeded the pool's ExecTimeout; it also
	// matches context.DeadlineExceeded.
	ErrExecTimeout = errors.New("bridge: call exceeded the execution timeout")
)

// CrashLoopError reports a pool whose workers keep failing.
type CrashLoopError struct {
	Failures int
	Window   time.Duration
	Last     error // the last exit or start failure, with the worker's stderr lines
}

func (e *CrashLoopError) Error() string {
	return fmt.Sprintf("bridge: pool is crash-looping: %d worker failures within %v; the last: %v", e.Failures, e.Window, e.Last)
}

// Is makes errors.Is match ErrCrashLooping and ErrUnavailable.
func (e *CrashLoopError) Is(target error) bool {
	return target == ErrCrashLooping || target == ErrUnavailable
}

// Unwrap returns the last failure.
func (e *CrashLoopError) Unwrap() error { return e.Last }

// CallOption modifies one Pool.Call.
type CallOption func(*callOptions)

type callOptions struct{ idempotent bool }

// Idempotent marks a call as safe to run twice: if its worker dies while running it, the
// pool retries it once on another worker.
func Idempotent() CallOption { return func(o *callOptions) { o.idempotent = true } }

// Pool runs N workers from one command and spreads calls over them, like Node's cluster:
// a call goes to the least busy ready worker; a worker that exits is replaced, with
// backoff; workers past their limits are recycled without dropping calls.
//
// A Pool owns one goroutine per worker slot and one sampler, plus each worker's own (see
// Process). Every method is safe for concurrent use.
type Pool struct {
	cfg  *poolConfig
	argv []string
	name string

	ctx       context.Context // ends when Close begins: no more restarts
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	reloading sync.Mutex

	mu       sync.Mutex
	slots    []*slot
	retiring map[*worker]struct{}
	waiters  list.List // of *waiter, oldest first
	closed   bool
	failures []time.Time // failures within the crash-loop window
	lastFail error       // the last exit or start failure
	startErr error       // the last start failure, cleared by a successful start
	looping  bool
}

// slot is one worker position: it holds the current worker and restarts it.
type slot struct {
	index    int
	current  *worker // ready to take calls, or nil
	state    string  // "starting", "ready", "backoff", "stopped"
	restarts int
	failures int // consecutive, for the backoff
	lastExit string
	replace  chan chan error // Reload: start a new worker, then retire the current one
	kick     chan *worker    // this worker was retired: start a replacement now
}

type worker struct {
	slot     *slot
	proc     *Process
	started  time.Time
	maxJobs  int
	lifetime time.Duration

	// under Pool.mu
	inflight int
	jobs     int64
	lastUsed time.Time
	retiring bool
	rss      int64
}

type waiter struct {
	ch  chan acquired
	not *worker // a worker to avoid (the one a retried call failed on), or nil
}

type acquired struct {
	w   *worker
	err error
}

// NewPool starts a pool of workers running argv. It returns once every worker has made its
// first start: the pool if at least one worker is ready, else the first start's error
// (and nothing is left running). Workers that failed keep being restarted in the
// background.
func NewPool(ctx context.Context, argv []string, opts ...PoolOption) (*Pool, error) {
	cfg := defaultPoolConfig()
	for _, o := range opts {
		o(cfg)
	}
	if len(argv) == 0 || argv[0] == "" {
		cfg.fail("the command is empty")
	}
	probe := defaultConfig()
	for _, o := range cfg.procOpts {
		o(probe)
	}
	if err := probe.validate(); err != nil {
		cfg.fail("%v", err)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := &Pool{cfg: cfg, argv: argv, retiring: map[*worker]struct{}{}}
	p.name = cfg.name
	if p.name == "" {
		p.name = defaultName(argv)
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())

	first := make(chan error, cfg.workers)
	for i := 0; i < cfg.workers; i++ {
		s := &slot{index: i, state: "starting", replace: make(chan chan error), kick: make(chan *worker, 1)}
		p.slots = append(p.slots, s)
		p.wg.Add(1)
		go p.runSlot(s, first)
	}
	p.wg.Add(1)
	go p.sample()

	var errs []error
	for i := 0; i < cfg.workers; i++ {
		select {
		case err := <-first:
			if err != nil {
				errs = append(errs, err)
			}
		case <-ctx.Done():
			p.Kill()
			return nil, fmt.Errorf("bridge: starting the pool: %w", ctx.Err())
		}
	}
	if len(errs) == cfg.workers {
		p.Kill()
		return nil, fmt.Errorf("bridge: no worker of the pool could start: %w", errs[0])
	}
	return p, nil
}

// runSlot keeps one worker running until the pool closes. first receives the outcome of
// the first start.
func (p *Pool) runSlot(s *slot, first chan<- error) {
	defer p.wg.Done()
	var w *worker
	for {
		if w == nil {
			nw, err := p.startWorker(s)
			if err == nil {
				w = nw
				p.install(s, w)
			}
			if first != nil {
				first <- err // after install: NewPool returns with its workers in place
				first = nil
			}
			if err != nil {
				if errors.Is(err, ErrClosed) || !p.sleep(p.failed(s, err, 0)) {
					p.setState(s, "stopped")
					return
				}
				continue
			}
		}
		select {
		case <-w.proc.Done():
			uptime := time.Since(w.started)
			delay, unexpected := p.exited(s, w, uptime)
			w = nil
			if unexpected && !p.sleep(delay) {
				p.setState(s, "stopped")
				return
			}
		case k := <-s.kick:
			if k == w {
				w = nil // retired by a limit: start its replacement now
			}
		case reply := <-s.replace:
			nw, err := p.startWorker(s)
			if err != nil {
				reply <- err
				continue
			}
			old := w
			w = nw
			p.install(s, w)
			p.mu.Lock()
			p.retireLocked(old)
			p.mu.Unlock()
			reply <- nil
		case <-p.ctx.Done():
			p.setState(s, "stopped")
			return
		}
	}
}

// startWorker starts one worker for slot s.
func (p *Pool) startWorker(s *slot) (*worker, error) {
	if p.ctx.Err() != nil {
		return nil, ErrClosed
	}
	p.setState(s, "starting")
	opts := append([]Option{WithName(fmt.Sprintf("%s#%d", p.name, s.index))}, p.cfg.procOpts...)
	proc, err := Start(p.ctx, p.argv, opts...)
	if err != nil {
		if p.ctx.Err() != nil {
			return nil, ErrClosed
		}
		return nil, err
	}
	w := &worker{slot: s, proc: proc, started: time.Now(), lastUsed: time.Now()}
	if n := p.cfg.maxJobs; n > 0 {
		w.maxJobs = n + rand.IntN(n/10+1)
	}
	if d := p.cfg.maxLifetime; d > 0 {
		w.lifetime = d + time.Duration(rand.Int64N(int64(d)/10+1))
	}
	return w, nil
}

// install makes w the slot's ready worker and gives it waiting calls.
func (p *Pool) install(s *slot, w *worker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if rss, err := w.proc.RSS(); err == nil {
		w.rss = rss
	}
	s.current = w
	s.state = "ready"
	p.startErr = nil
	p.looping = false
	if p.closed && p.ctx.Err() != nil {
		// Closing: this worker is only here to be stopped.
		go w.proc.Close()
		return
	}
	p.dispatchLocked()
}

// failed records a failed start and returns the delay before the next one.
func (p *Pool) failed(s *slot, err error, uptime time.Duration) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	s.lastExit = err.Error()
	p.startErr = err
	p.noteFailureLocked(err)
	delay := p.backoffLocked(s, uptime)
	s.state = "backoff"
	if !p.anyReadyLocked() {
		p.failWaitersLocked(p.unavailableLocked())
	}
	return delay
}

// exited handles the end of a worker: it reports whether the exit was unexpected (then the
// slot backs off for the returned delay).
func (p *Pool) exited(s *slot, w *worker, uptime time.Duration) (time.Duration, bool) {
	err := w.proc.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.current == w {
		s.current = nil
	}
	if err != nil {
		s.lastExit = err.Error()
	} else {
		s.lastExit = "exited with status 0"
	}
	if w.retiring || p.ctx.Err() != nil {
		return 0, false
	}
	s.restarts++
	if err == nil {
		err = fmt.Errorf("bridge: worker %s exited with status 0 on its own", w.proc.Name())
	}
	p.noteFailureLocked(err)
	s.state = "backoff"
	if p.looping && !p.anyReadyLocked() {
		p.failWaitersLocked(p.unavailableLocked())
	}
	return p.backoffLocked(s, uptime), true
}

// noteFailureLocked counts a failure toward the crash-loop window.
func (p *Pool) noteFailureLocked(err error) {
	now := time.Now()
	p.lastFail = err
	p.failures = append(p.failures, now)
	cut := 0
	for cut < len(p.failures) && now.Sub(p.failures[cut]) > p.cfg.crashWindow {
		cut++
	}
	p.failures = p.failures[cut:]
	if len(p.failures) > p.cfg.crashRestarts {
		p.looping = true
	}
}

// backoffLocked returns the delay before restarting slot s: none after a healthy run, then
// doubling from the minimum to the maximum, with jitter; the maximum while crash-looping.
func (p *Pool) backoffLocked(s *slot, uptime time.Duration) time.Duration {
	if uptime >= p.cfg.healthyAfter {
		s.failures = 0
	}
	s.failures++
	if p.looping {
		return jitter(p.cfg.maxBackoff)
	}
	if s.failures == 1 {
		return 0
	}
	d := p.cfg.minBackoff << min(s.failures-2, 30)
	if d > p.cfg.maxBackoff || d <= 0 {
		d = p.cfg.maxBackoff
	}
	return jitter(d)
}

// jitter spreads d over [0.75d, 1.25d).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d*3/4 + time.Duration(rand.Int64N(int64(d)/2+1))
}

// sleep waits d, or until the pool closes (then it returns false).
func (p *Pool) sleep(d time.Duration) bool {
	if d <= 0 {
		return p.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.ctx.Done():
		return false
	}
}

func (p *Pool) setState(s *slot, state string) {
	p.mu.Lock()
	s.state = state
	p.mu.Unlock()
}

// retireLocked stops giving calls to w and closes it once its calls in flight have
// finished.
func (p *Pool) retireLocked(w *worker) {
	if w.retiring {
		return
	}
	w.retiring = true
	if w.slot.current == w {
		w.slot.current = nil
	}
	p.retiring[w] = struct{}{}
	if w.inflight == 0 {
		go w.proc.Close()
	}
	go func() {
		<-w.proc.Done()
		p.mu.Lock()
		delete(p.retiring, w)
		p.mu.Unlock()
	}()
}

// recycleLocked takes w out of rotation at once, for a limit: it finishes its calls in
// flight and stops, while its slot starts a replacement.
func (p *Pool) recycleLocked(w *worker) {
	if w.retiring || p.closed {
		return
	}
	p.retireLocked(w)
	select {
	case w.slot.kick <- w:
	default:
	}
}

// anyReadyLocked reports whether some worker can take calls.
func (p *Pool) anyReadyLocked() bool {
	for _, s := range p.slots {
		if s.current != nil {
			return true
		}
	}
	return false
}

// unavailableLocked is the error for calls when no worker is ready, or nil if they should
// wait (workers are starting).
func (p *Pool) unavailableLocked() error {
	if p.looping {
		return &CrashLoopError{Failures: len(p.failures), Window: p.cfg.crashWindow, Last: p.lastFail}
	}
	if p.startErr != nil {
		return fmt.Errorf("%w: the last worker start failed: %w", ErrUnavailable, p.startErr)
	}
	return nil
}

// pickLocked returns the least busy ready worker with a free slot, other than not if
// possible.
func (p *Pool) pickLocked(not *worker) *worker {
	var best *worker
	for _, s := range p.slots {
		w := s.current
		if w == nil || w.retiring || w.inflight >= p.cfg.concurrency || w.proc.gone() {
			continue
		}
		if best == nil || (best == not && w != not) || (w != not && w.inflight < best.inflight) {
			best = w
		}
	}
	return best
}

// dispatchLocked hands free workers to waiting calls, oldest first.
func (p *Pool) dispatchLocked() {
	for e := p.waiters.Front(); e != nil; {
		next := e.Next()
		wt := e.Value.(*waiter)
		w := p.pickLocked(wt.not)
		if w == nil {
			return
		}
		w.inflight++
		p.waiters.Remove(e)
		wt.ch <- acquired{w: w}
		e = next
	}
}

func (p *Pool) failWaitersLocked(err error) {
	if err == nil {
		return
	}
	for e := p.waiters.Front(); e != nil; e = p.waiters.Front() {
		p.waiters.Remove(e)
		e.Value.(*waiter).ch <- acquired{err: err}
	}
}

// acquire reserves a worker for one call, waiting in the queue if all are busy.
func (p *Pool) acquire(ctx context.Context, not *worker) (*worker, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if w := p.pickLocked(not); w != nil {
		w.inflight++
		p.mu.Unlock()
		return w, nil
	}
	if !p.anyReadyLocked() {
		if err := p.unavailableLocked(); err != nil {
			p.mu.Unlock()
			return nil, err
		}
	}
	if p.waiters.Len() >= p.cfg.queue {
		n := p.waiters.Len()
		p.mu.Unlock()
		return nil, fmt.Errorf("%w: all %d workers are busy and %d calls are queued (QueueSize)", ErrSaturated, len(p.slots), n)
	}
	wt := &waiter{ch: make(chan acquired, 1), not: not}
	e := p.waiters.PushBack(wt)
	p.mu.Unlock()

	select {
	case a := <-wt.ch:
		return a.w, a.err
	case <-ctx.Done():
		p.mu.Lock()
		select {
		case a := <-wt.ch: // served at the last moment: give the worker back
			p.mu.Unlock()
			if a.w != nil {
				p.release(a.w, false)
			}
		default:
			p.waiters.Remove(e)
			p.mu.Unlock()
		}
		return nil, fmt.Errorf("%w: no worker was free before the call's context ended: %w", ErrSaturated, ctx.Err())
	}
}

// release returns a worker after a call and applies the job limit.
func (p *Pool) release(w *worker, job bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w.inflight--
	w.lastUsed = time.Now()
	if job {
		w.jobs++
	}
	if w.retiring {
		if w.inflight == 0 {
			go w.proc.Close()
		}
		return
	}
	if w.maxJobs > 0 && w.jobs >= int64(w.maxJobs) {
		p.recycleLocked(w)
	}
	p.dispatchLocked()
}

// Call calls method on the least busy ready worker, waiting in the queue if every worker
// is busy; see Process.Call for params, result and the errors a worker gives. The pool adds
// errors matching ErrSaturated, ErrUnavailable (and ErrCrashLooping), ErrExecTimeout and
// ErrClosed. With Idempotent, a call whose worker died is retried once on another worker.
func (p *Pool) Call(ctx context.Context, method string, params, result any, opts ...CallOption) error {
	var co callOptions
	for _, o := range opts {
		o(&co)
	}
	var tried *worker
	for attempt := 0; ; attempt++ {
		w, err := p.acquire(ctx, tried)
		if err != nil {
			return err
		}
		err = p.callOn(ctx, w, method, params, result)
		p.release(w, true)
		died := errors.Is(err, ErrExited) || errors.Is(err, ErrProtocol)
		if err == nil || !died || !co.idempotent || attempt > 0 || ctx.Err() != nil {
			return err
		}
		tried = w
	}
}

// callOn runs one call on w, applying the execution timeout.
func (p *Pool) callOn(ctx context.Context, w *worker, method string, params, result any) error {
	if p.cfg.execTimeout <= 0 {
		return w.proc.Call(ctx, method, params, result)
	}
	cctx, cancel := context.WithTimeout(ctx, p.cfg.execTimeout)
	defer cancel()
	err := w.proc.Call(cctx, method, params, result)
	if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		// Our limit, not the caller's: the worker is stuck. $cancel has gone out with the
		// call's end; now end the worker, and only it.
		p.mu.Lock()
		p.recycleLocked(w)
		p.mu.Unlock()
		w.proc.terminate(p.cfg.killGrace)
		return fmt.Errorf("%w: %q ran longer than %v on %s (pid %d), which is being replaced: %w",
			ErrExecTimeout, method, p.cfg.execTimeout, w.proc.Name(), w.proc.Pid(), context.DeadlineExceeded)
	}
	return err
}

// Send sends v to the least busy ready worker's on('message') handler.
func (p *Pool) Send(ctx context.Context, v any) error {
	w, err := p.acquire(ctx, nil)
	if err != nil {
		return err
	}
	defer p.release(w, false)
	return w.proc.Send(ctx, v)
}

// Broadcast sends v to every ready worker and returns the errors, joined.
func (p *Pool) Broadcast(ctx context.Context, v any) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	var procs []*Process
	for _, s := range p.slots {
		if s.current != nil {
			procs = append(procs, s.current.proc)
		}
	}
	p.mu.Unlock()
	var errs []error
	for _, proc := range procs {
		if err := proc.Send(ctx, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", proc.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// sample checks the time and memory limits of every worker twice a second.
func (p *Pool) sample() {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.sampleEvery)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		var ws []*worker
		for _, s := range p.slots {
			if s.current != nil {
				ws = append(ws, s.current)
			}
		}
		p.mu.Unlock()
		for _, w := range ws {
			rss, err := w.proc.RSS()
			p.mu.Lock()
			if err == nil {
				w.rss = rss
			}
			switch {
			case p.cfg.maxRSS > 0 && err == nil && rss > p.cfg.maxRSS,
				w.lifetime > 0 && time.Since(w.started) > w.lifetime,
				p.cfg.maxIdle > 0 && w.inflight == 0 && time.Since(w.lastUsed) > p.cfg.maxIdle:
				p.recycleLocked(w)
			}
			p.mu.Unlock()
		}
	}
}

// Reload replaces every worker, one after the other: a new worker starts and takes calls
// before the old one is retired, and the old one finishes its calls in flight before it
// stops. New code is picked up with no failed call. Reload returns the first start
// failure (the old worker then stays), or ctx's error.
func (p *Pool) Reload(ctx context.Context) error {
	p.reloading.Lock()
	defer p.reloading.Unlock()
	for _, s := range p.slots {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return ErrClosed
		}
		old := s.current
		p.mu.Unlock()
		if old == nil {
			continue // starting or backing off: its next worker runs the new code anyway
		}
		reply := make(chan error, 1)
		select {
		case s.replace <- reply:
		case <-ctx.Done():
			return ctx.Err()
		case <-p.ctx.Done():
			return ErrClosed
		}
		select {
		case err := <-reply:
			if err != nil {
				return fmt.Errorf("bridge: reload: worker %d: %w", s.index, err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		if old != nil {
			select {
			case <-old.proc.Done():
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// Close drains the pool: new calls fail with ErrClosed, calls in flight and queued finish,
// then every worker gets $stop, then signals (see Process.Close). If ctx ends first, the
// workers are killed. Close waits until every worker is gone; it is safe to call twice.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()

	// Let queued and running calls finish while workers live.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !p.drained() {
		select {
		case <-ctx.Done():
			p.Kill()
			return fmt.Errorf("bridge: closing the pool: %w", ctx.Err())
		case <-tick.C:
		}
	}
	p.cancel()
	procs := p.allProcs()
	var wg sync.WaitGroup
	for _, proc := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = proc.Close()
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		p.Kill()
		<-done
		return fmt.Errorf("bridge: closing the pool: %w", ctx.Err())
	}
}

// drained reports whether no call is running or queued (or none can run any more).
func (p *Pool) drained() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waiters.Len() > 0 && !p.anyReadyLocked() {
		p.failWaitersLocked(ErrClosed)
	}
	if p.waiters.Len() > 0 {
		return false
	}
	for _, s := range p.slots {
		if s.current != nil && s.current.inflight > 0 {
			return false
		}
	}
	for w := range p.retiring {
		if w.inflight > 0 {
			return false
		}
	}
	return true
}

func (p *Pool) allProcs() []*Process {
	p.mu.Lock()
	defer p.mu.Unlock()
	var procs []*Process
	for _, s := range p.slots {
		if s.current != nil {
			procs = append(procs, s.current.proc)
		}
	}
	for w := range p.retiring {
		procs = append(procs, w.proc)
	}
	return procs
}

// Kill ends the pool at once: every worker gets SIGKILL, every call fails. It waits until
// every worker is gone.
func (p *Pool) Kill() {
	p.mu.Lock()
	p.closed = true
	p.failWaitersLocked(ErrClosed)
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	for _, proc := range p.allProcs() {
		proc.Kill()
		proc.Wait()
	}
}

// WorkerStats describes one worker slot.
type WorkerStats struct {
	Index    int           `json:"index"`
	Pid      int           `json:"pid"`   // 0 while no worker runs
	State    string        `json:"state"` // starting, ready, busy, backoff, stopped
	JobsDone int64         `json:"jobs_done"`
	InFlight int           `json:"in_flight"`
	Restarts int           `json:"restarts"` // unexpected exits replaced
	RSS      int64         `json:"rss_bytes"`
	Uptime   time.Duration `json:"uptime_ns"`
	LastExit string        `json:"last_exit,omitempty"`
}

// PoolStats is a snapshot of a pool.
type PoolStats struct {
	Workers      []WorkerStats `json:"workers"`
	Retiring     int           `json:"retiring"` // old workers finishing their calls
	Queued       int           `json:"queued"`
	Ready        int           `json:"ready"`
	CrashLooping bool          `json:"crash_looping"`
	LastFailure  string        `json:"last_failure,omitempty"`
}

// Stats returns a snapshot of every worker.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := PoolStats{Retiring: len(p.retiring), Queued: p.waiters.Len(), CrashLooping: p.looping}
	if p.lastFail != nil {
		st.LastFailure = p.lastFail.Error()
	}
	for _, s := range p.slots {
		ws := WorkerStats{Index: s.index, State: s.state, Restarts: s.restarts, LastExit: s.lastExit}
		if w := s.current; w != nil {
			ws.Pid = w.proc.Pid()
			ws.JobsDone = w.jobs
			ws.InFlight = w.inflight
			ws.RSS = w.rss
			ws.Uptime = time.Since(w.started)
			if w.inflight > 0 {
				ws.State = "busy"
			}
			st.Ready++
		}
		st.Workers = append(st.Workers, ws)
	}
	return st
}

// String summarises the pool for logs.
func (s PoolStats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d ready, %d queued", s.Ready, s.Queued)
	if s.CrashLooping {
		b.WriteString(", crash-looping")
	}
	return b.String()
}
