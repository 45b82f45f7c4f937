package bridge

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Pool runs N workers from one command and spreads calls over them, like Node's cluster:
// a call goes to the least busy ready worker; a worker that exits is replaced, with
// backoff; workers past their limits are recycled without dropping calls.
//
// NewPool takes every Option: those of a Conn and a Process apply to each worker (its
// handlers, OnMessage listener, environment, grace periods...), the pool's own set how
// many workers run and how they are supervised and limited.
//
// A Pool owns one goroutine per worker slot and one sampler, plus each worker's own (see
// Process). Every method is safe for concurrent use. A Pool is made by NewPool: the methods
// of a zero Pool do nothing, and those that return an error say so.
type Pool struct {
	cfg     poolConfig
	connCfg connConfig
	procCfg procConfig
	argv    []string
	name    string
	clk     clock
	log     func(level slog.Level, msg string, args ...any)

	ctx       context.Context // ends when the pool stops: no more restarts
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	reloading sync.Mutex

	mu       sync.Mutex
	slots    []*slot
	retiring map[*running]struct{}
	waiters  list.List // of *waiter, oldest first
	slowness slowness  // which methods block a worker for long (dispatch.go)
	drain    *running  // a worker being emptied for a slow call, or nil (dispatch.go)
	closed   bool
	failures failureCount
	looping  bool          // the failure count passed the threshold and no worker has started since
	lastFail error         // the last exit or start failure
	startErr error         // the last start failure, cleared by a successful start
	drained  chan struct{} // closed when closed and no call runs or waits; nil until asked

	sockets poolSockets // the listening sockets passed to the workers (pool_listen.go)
}

// NewPool starts a pool of workers running argv. It returns once every worker has made its
// first start: the pool if at least one worker is ready, else the first start's error
// (and nothing is left running). Workers that failed keep being restarted in the
// background. Invalid options give an error matching ErrInvalidOption. With
// WithListeners, the sockets are bound (or adopted) before any worker starts; one that
// cannot be gives a *ListenError and nothing is started.
func NewPool(ctx context.Context, argv []string, opts ...Option) (*Pool, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	cfg, err := newConfig(scopePool, opts)
	if err != nil {
		return nil, err
	}
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.Join(&OptionError{Option: "argv", Reason: "the command is empty"})
	}
	if err := errors.Join(checkChannelNone(cfg), checkListenConfig(cfg.pool.listen)); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bridge: starting the pool: %w", err) // nothing started
	}
	p := &Pool{
		cfg: cfg.pool, connCfg: cfg.conn, procCfg: cfg.proc, argv: argv, clk: cfg.pool.clock,
		retiring: map[*running]struct{}{},
		failures: failureCount{halfLife: cfg.pool.crashWindow},
	}
	p.name = cfg.conn.name
	if p.name == "" {
		p.name = DefaultName(argv)
	}
	p.log = poolLogger(cfg.conn.logger, p.name)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if err := p.openListeners(); err != nil {
		return nil, err
	}

	first := make(chan error, p.cfg.workers)
	for i := 0; i < p.cfg.workers; i++ {
		s := &slot{index: i, state: stateStarting, replace: make(chan chan error), kick: make(chan *running, 1)}
		p.slots = append(p.slots, s)
		p.wg.Add(1)
		go p.supervise(s, first)
	}
	p.wg.Add(1)
	go p.sample()

	var errs []error
	for i := 0; i < p.cfg.workers; i++ {
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
	if len(errs) == p.cfg.workers {
		p.Kill()
		return nil, fmt.Errorf("bridge: no worker of the pool could start: %w", errs[0])
	}
	return p, nil
}

// Call calls method on the least busy ready worker, waiting in the queue if every worker
// is busy; see Conn.Call for params, result and the errors a worker gives. The pool adds
// errors matching ErrSaturated, ErrUnavailable (and ErrCrashLooping), ErrExecTimeout and
// ErrClosed. A call refused because its worker was stopping (ErrStopping), or ended before
// the call was sent (ErrClosed from the worker), never ran and is
// sent to another worker; with Idempotent, a call whose worker died is retried once on
// another worker.
//
// A host handler that serves a worker's call (WithHandler) may call the pool back with the
// context it was given (or one derived from it): when no other worker has room, that call
// goes to the worker that waits for the handler, past its window (WithConcurrency too),
// rather than queue behind the very call that waits for it, also while the pool drains
// (Close, Shutdown: the drain waits for the call the handler serves). That worker must run
// requests concurrently to answer it (SPEC 4.1 allows a child not to).
func (p *Pool) Call(ctx context.Context, method string, params, result any, opts ...CallOption) error {
	if ctx == nil {
		return errNilContext
	}
	if err := p.takesCalls(); err != nil {
		return err
	}
	if err := checkMethod(method); err != nil {
		return err
	}
	co := collectCallOptions(opts)
	var tried *running
	retried := false
	for attempt := 0; ; attempt++ {
		t, err := p.acquire(ctx, method, tried)
		if err != nil {
			return err
		}
		co.report(t.r.w.Name(), t.r.w.Pid())
		abandoned, err := p.callOn(ctx, t, method, params, result)
		if err != nil && errors.Is(err, ErrExited) && !errors.Is(err, ErrExecTimeout) {
			err = p.explainEnd(t.r, err)
		}
		answered := err == nil || isRemote(err)
		// Not run: the worker refused it after $stop (ErrStopping), or was ended between
		// being chosen and being sent the call (ErrClosed: another call's timeout, a recycle).
		notRun := errors.Is(err, ErrStopping) || errors.Is(err, ErrClosed)
		// Never sent: the params have no form the worker could read (ErrUnsendable). Not a
		// job: it must not count toward WithMaxJobs, nor make a worker look healthy.
		unsent := errors.Is(err, ErrUnsendable)
		if abandoned {
			// The worker may still be running it: its place stays taken until the worker
			// answers it or ends (ticket.settled), so no call waits behind it there.
			p.abandon(t)
		} else {
			p.release(t, (err == nil || !notRun) && !unsent, answered)
		}
		switch {
		case err == nil, ctx.Err() != nil:
			return err
		case notRun && attempt < 3:
			// never ran: safe to send elsewhere
		case (errors.Is(err, ErrExited) || errors.Is(err, ErrProtocol)) && co.idempotent && !retried:
			retried = true
		default:
			return err
		}
		tried = t.r
	}
}

// isRemote reports whether err is the other side's answer (a *RemoteError). It is a
// function of its own so that the target errors.As needs is allocated only when asked.
func isRemote(err error) bool {
	var re *RemoteError
	return errors.As(err, &re)
}

// explainEnd adds to err, a call's failure because its worker exited, why the pool ended
// that worker, if it did (another call's execution timeout ends the calls queued with it).
func (p *Pool) explainEnd(r *running, err error) error {
	p.mu.Lock()
	why := r.ended
	p.mu.Unlock()
	if why == "" {
		return err
	}
	return fmt.Errorf("%w (the pool ended this worker: %s)", err, why)
}

// Send sends v to one ready worker's on('message') listeners (the least busy one, as for
// calls; it waits in the queue like a call when all are busy).
func (p *Pool) Send(ctx context.Context, v any) error {
	if ctx == nil {
		return errNilContext
	}
	if err := p.takesCalls(); err != nil {
		return err
	}
	t, err := p.acquire(ctx, "", nil)
	if err != nil {
		return err
	}
	defer p.release(t, false, false)
	return t.r.w.Send(ctx, v)
}

// Notify sends the notification method with params to one ready worker, chosen as Send
// chooses.
func (p *Pool) Notify(ctx context.Context, method string, params ...any) error {
	if ctx == nil {
		return errNilContext
	}
	if err := p.takesCalls(); err != nil {
		return err
	}
	t, err := p.acquire(ctx, "", nil)
	if err != nil {
		return err
	}
	defer p.release(t, false, false)
	return t.r.w.Notify(ctx, method, params...)
}

// Broadcast sends v to every ready worker's on('message') listeners and returns the
// errors, joined.
func (p *Pool) Broadcast(ctx context.Context, v any) error {
	if ctx == nil {
		return errNilContext
	}
	if err := p.takesCalls(); err != nil {
		return err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	var ws []worker
	for _, s := range p.slots {
		if s.current != nil {
			ws = append(ws, s.current.w)
		}
	}
	p.mu.Unlock()
	var errs []error
	for _, w := range ws {
		if err := w.Send(ctx, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", w.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// Reload replaces the workers one by one with fresh processes of the same command, each
// new worker ready before the old one stops taking calls; the old one finishes its calls
// in flight and stops. New code is picked up with no failed call. Workers without a channel
// (ChannelNone) count as ready once started, so each new one must stay up a second before
// the old one is retired: a new command that exits at once (a broken deploy) fails the
// reload instead of retiring every working worker. Reload returns the first start failure
// (the old worker then stays), or ctx's error. A host handler serving a worker's call may
// call Reload with the context it was given: Reload then does not wait for that worker to
// stop (it cannot before the handler returns), only for its replacement to be ready.
func (p *Pool) Reload(ctx context.Context) error {
	if ctx == nil {
		return errNilContext
	}
	if p.zero() {
		return errZeroPool
	}
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
		if serves(old.w, servedBy(ctx)) {
			// Called by a host handler serving one of old's calls: old cannot stop before
			// the handler returns. It is retired; it stops once that call is answered.
			continue
		}
		select {
		case <-old.w.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Close drains the pool, bounded by WithDrainTimeout (30 s by default): Shutdown with that
// deadline. It is safe to call more than once.
//
// It returns within the drain timeout plus a second or so, even when the host's handlers
// are slow with, or stuck in, what the workers sent (see Shutdown).
func (p *Pool) Close() error {
	if p.zero() {
		return errZeroPool
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.drainTimeout)
	defer cancel()
	return p.Shutdown(ctx)
}

// Shutdown drains the pool: new calls fail with ErrClosed (not those of a host handler
// serving a call in flight: see Call), calls in flight and queued finish, then every
// worker stops as Process.Close says ($stop, then signals; what a worker sent is handled
// by the host's handlers within the worker's grace periods, then dropped). If ctx ends
// first, the pool is killed (see Kill) and Shutdown returns ctx's error. It returns once
// every worker is gone, without waiting for handlers past those bounds, and is safe to
// call more than once, and concurrently (with Kill too). Given the context of a host
// handler serving a call of one of its workers, with no deadline, it refuses at once: the
// drain would wait for that call, which waits for the handler.
//
// The pool closes its descriptors of the sockets of WithListeners as soon as no worker
// can start any more, while the workers finish: the sockets close when the last worker
// has closed its own, so new connections are refused from then on, and those the kernel
// queued that no worker took are reset.
func (p *Pool) Shutdown(ctx context.Context) error {
	if ctx == nil {
		return errNilContext
	}
	if p.zero() {
		return errZeroPool
	}
	if pid := p.servedWorker(ctx); pid != 0 {
		if _, bounded := ctx.Deadline(); !bounded {
			return fmt.Errorf("bridge: Shutdown was given the context of a host handler serving a call of the pool's worker (pid %d), which has no deadline: the drain would wait for that call, which waits for the handler, for ever; give the context a deadline, or shut down from another goroutine", pid)
		}
	}
	drained := p.beginClose()
	select {
	case <-drained:
	case <-ctx.Done():
		p.Kill()
		return fmt.Errorf("bridge: closing the pool: %w", ctx.Err())
	}
	p.cancel()
	p.wg.Wait()        // no supervisor installs a worker after this: allWorkers lists them all
	p.closeListeners() // no worker starts any more: stop accepting as soon as the workers do
	var wg sync.WaitGroup
	for _, w := range p.allWorkers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.stopWorker(ctx, w)
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
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

// stopWorker stops w as Process.Close does, ended sooner by ctx (see closeWithin).
func (p *Pool) stopWorker(ctx context.Context, w worker) error { return w.closeWithin(ctx) }

// beginClose stops the pool taking calls and returns a channel closed once no call runs
// or waits.
func (p *Pool) beginClose() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.drained == nil {
		p.drained = make(chan struct{})
	}
	p.checkDrainedLocked()
	return p.drained
}

// checkDrainedLocked closes p.drained once the pool is closed and idle; queued calls that
// can no longer get a worker fail with ErrClosed.
func (p *Pool) checkDrainedLocked() {
	if p.drained == nil {
		return
	}
	select {
	case <-p.drained:
		return
	default:
	}
	if p.waiters.Len() > 0 && !p.anyReadyLocked() {
		p.failWaitersLocked(ErrClosed)
	}
	if p.waiters.Len() > 0 {
		return
	}
	// Calls whose callers gave up are not waited for: nobody wants their answers.
	for _, s := range p.slots {
		if s.current != nil && s.current.owed() > 0 {
			return
		}
	}
	for r := range p.retiring {
		if r.owed() > 0 {
			return
		}
	}
	close(p.drained)
}

// servedWorker returns the pid of the pool's worker whose call the host handler that was
// given ctx serves, or 0.
func (p *Pool) servedWorker(ctx context.Context) int {
	c := servedBy(ctx)
	if c == nil {
		return 0
	}
	for _, w := range p.allWorkers() {
		if serves(w, c) {
			return w.Pid()
		}
	}
	return 0
}

// serves reports whether w is the child whose session is c (a handler's, from servedBy):
// never for a nil c, which ordinary contexts and ChannelNone workers both have.
func serves(w worker, c *Conn) bool {
	proc, ok := w.(*Process)
	return ok && c != nil && proc.conn == c
}

func (p *Pool) allWorkers() []worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ws []worker
	for _, s := range p.slots {
		if s.current != nil {
			ws = append(ws, s.current.w)
		}
	}
	for r := range p.retiring {
		ws = append(ws, r.w)
	}
	return ws
}

// Kill ends the pool at once: every worker gets SIGKILL, every call fails, and what the
// workers sent that the host's handlers have not handled yet (messages, notifications,
// calls to the host) is dropped, as Process.Kill says; handlers running then are not
// waited for. It waits until every worker is gone (reaped, the rest of its stderr read:
// at most a second), then closes the listening sockets. It is safe to call more than once,
// concurrently, and from a handler.
func (p *Pool) Kill() {
	if p.zero() {
		return
	}
	p.mu.Lock()
	p.closed = true
	p.failWaitersLocked(ErrClosed)
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	ws := p.allWorkers()
	for _, w := range ws {
		_ = w.Kill()
	}
	for _, w := range ws {
		_ = w.Wait()
	}
	p.closeListeners()
}

// takesCalls returns ErrNoChannel for a pool of workers started with ChannelNone.
func (p *Pool) takesCalls() error {
	if p.zero() {
		return errZeroPool
	}
	if p.procCfg.channel == ChannelNone {
		return fmt.Errorf("%w: pool %s", ErrNoChannel, p.name)
	}
	return nil
}

// zero reports a Pool that NewPool did not make (see errZeroPool).
func (p *Pool) zero() bool { return p == nil || p.ctx == nil }

// poolLogger returns a log function tagging records with the pool's name; nil discards.
func poolLogger(l *slog.Logger, name string) func(slog.Level, string, ...any) {
	if l == nil {
		return func(slog.Level, string, ...any) {}
	}
	l = l.With("pool", name)
	return func(level slog.Level, msg string, args ...any) {
		l.Log(context.Background(), level, "polyfork: "+msg, args...)
	}
}

// elapsed returns the time since t on the pool's clock.
func (p *Pool) elapsed(t time.Time) time.Duration { return p.clk.Now().Sub(t) }
