package remote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/polyfork/polyfork/bridge"
	"github.com/polyfork/polyfork/protocol"
	"github.com/vmihailenco/msgpack/v5"
)

// Version is the version of the NATS mapping (protocol/SPEC.md section 10) an agent serves,
// its NATS micro service version.
const Version = "1.0.0"

// Agent serves a local bridge.Pool on NATS as the micro service of a name: the calls,
// messages and notifications of every remote Pool of that name reach its workers, and what
// its workers send reaches the remote pools that listen. Several agents of one name, on
// several machines, share the calls (a NATS queue group). Since it is a NATS micro service,
// `nats micro ls|info|stats NAME` show it, and Agents lists it.
//
// An Agent owns its pool, a goroutine per call in flight (and a timer that sends its beats
// when it runs long), and, with AgentDurable, one goroutine that takes durable messages.
// Every method is safe for concurrent use. It does not own the NATS connection. An Agent is
// made by NewAgent: the methods of a zero Agent do nothing, and those that return an error
// say so.
type Agent struct {
	nc      *nats.Conn
	service string
	subj    subjects
	cfg     agentConfig
	pool    atomic.Pointer[bridge.Pool] // set once the pool has started
	svc     micro.Service
	id      string
	host    string
	max     atomic.Int64 // set once the pool has started
	objects *objects
	log     *slog.Logger

	cancelSub *nats.Subscription
	beatSub   *nats.Subscription // the NATS server's "no responders" for beats (callerGone)
	beatInbox string
	beatSeq   atomic.Uint64
	durable   atomic.Pointer[durableLoop] // with AgentDurable, once it has started

	base       context.Context // cancelled by Kill: ends the durable messages in progress
	cancelBase context.CancelFunc
	idle       chan request  // idle server goroutines wait here (dispatch)
	quit       chan struct{} // closed when the agent has stopped: idle servers return
	quitOnce   sync.Once

	mu        sync.Mutex
	killed    bool                               // Kill ran: calls still arriving are cancelled at once
	running   map[string]context.CancelCauseFunc // calls in flight, by reply subject
	beating   map[string]*beatWatch              // calls whose beats run, by beat token
	cancelled map[string]time.Time               // $cancel that came before its call, by reply subject
	lastErr   string
	calls     sync.WaitGroup

	inFlight  atomic.Int64
	served    atomic.Int64
	failed    atomic.Int64
	saturated atomic.Int64
	notified  atomic.Int64
	events    atomic.Int64
	stopping  bool // under mu: Shutdown or Kill began
	stopOnce  sync.Once
	stopErr   error
}

// NewAgent starts a pool of argv (with the bridge options of AgentPool) and serves it on nc
// as the service name. It returns once the pool has a ready worker and the service is
// subscribed, or an error (and nothing is left running). Invalid options give an error
// matching bridge.ErrInvalidOption.
func NewAgent(ctx context.Context, nc *nats.Conn, name string, argv []string, opts ...AgentOption) (*Agent, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	if err := CheckServiceName(name); err != nil {
		return nil, err
	}
	if nc == nil {
		return nil, errNilConn
	}
	cfg, err := newAgentConfig(opts)
	if err != nil {
		return nil, err
	}
	if !nc.HeadersSupported() {
		return nil, errors.New("remote: the NATS server does not support headers (it is older than 2.2)")
	}
	hostname, _ := os.Hostname()
	a := &Agent{
		nc: nc, service: name, subj: subjectsOf(name), cfg: cfg, objects: newObjects(nc, name),
		host: fmt.Sprintf("%s[%d]", hostname, os.Getpid()), log: cfg.logger,
		running: map[string]context.CancelCauseFunc{}, cancelled: map[string]time.Time{}, beating: map[string]*beatWatch{},
		idle: make(chan request), quit: make(chan struct{}),
	}
	a.base, a.cancelBase = context.WithCancel(context.Background())
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}

	// The service comes first, with no endpoint yet: its id names the agent in the events
	// the workers send as soon as they start.
	meta := map[string]string{"polyfork": Version, "host": hostname, "pid": strconv.Itoa(os.Getpid()),
		"command": strings.Join(argv, " ")}
	for k, v := range cfg.metadata {
		meta[k] = v
	}
	a.svc, err = micro.AddService(nc, micro.Config{
		Name:         name,
		Version:      Version,
		Description:  "polyfork agent: workers of " + strings.Join(argv, " "),
		Metadata:     meta,
		QueueGroup:   QueueGroup,
		StatsHandler: a.statsData,
	})
	if err != nil {
		a.cancelBase()
		return nil, fmt.Errorf("remote: serving %s on NATS: %w", name, err)
	}
	a.id = a.svc.Info().ID
	a.log = a.log.With("service", name, "agent", a.id, "host", a.host)

	poolOpts := append([]bridge.Option(nil), cfg.pool...)
	poolOpts = append(poolOpts, bridge.OnNotification(protocol.MethodMessage, a.publishEvent(protocol.MethodMessage)))
	for _, m := range cfg.forward {
		poolOpts = append(poolOpts, bridge.OnNotification(m, a.publishEvent(m)))
	}
	pool, err := bridge.NewPool(ctx, argv, poolOpts...)
	if err != nil {
		_ = a.svc.Stop()
		a.cancelBase()
		return nil, err
	}
	a.pool.Store(pool)
	max := int64(cfg.maxInFlight)
	if max == 0 {
		max = int64(8 * len(pool.Stats().Workers))
	}
	a.max.Store(max)
	err = a.svc.AddEndpoint("call", micro.HandlerFunc(a.onCall), micro.WithEndpointSubject(a.subj.call),
		micro.WithEndpointPendingLimits(-1, -1))
	if err == nil {
		err = a.svc.AddEndpoint("notify", micro.HandlerFunc(a.onNotify), micro.WithEndpointSubject(a.subj.notify),
			micro.WithEndpointPendingLimits(-1, -1))
	}
	if err == nil {
		a.cancelSub, err = nc.Subscribe(a.subj.cancel, a.onCancel)
	}
	if err == nil {
		a.beatInbox = nc.NewInbox()
		a.beatSub, err = nc.Subscribe(a.beatInbox+".*", a.onBeatReply)
	}
	if err == nil && cfg.durable {
		var d *durableLoop
		if d, err = startDurable(ctx, a); err == nil {
			a.durable.Store(d)
		}
	}
	if err == nil {
		// The server has the subscriptions once the flush returns: calls from other
		// connections reach the agent from then on.
		err = flush(ctx, nc)
	}
	if err != nil {
		a.Kill()
		return nil, fmt.Errorf("remote: serving %s on NATS: %w", name, err)
	}
	return a, nil
}

// ID returns the agent's id: its NATS micro service id.
func (a *Agent) ID() string { return a.id }

// Host returns where the agent runs, "hostname[pid]".
func (a *Agent) Host() string { return a.host }

// Pool returns the agent's local pool (for its Stats, or Reload).
func (a *Agent) Pool() *bridge.Pool { return a.pool.Load() }

// AgentStats is what an agent reports in the data of its NATS micro STATS (endpoint
// "call"), and what Agents returns.
type AgentStats struct {
	InFlight    int64            `json:"in_flight"`     // calls taken and not yet answered
	MaxInFlight int64            `json:"max_in_flight"` // past it, calls are handed to another agent
	Served      int64            `json:"served"`        // calls run and answered, with a result or an error
	Failed      int64            `json:"failed"`        // calls answered with an error, the handler's included
	Saturated   int64            `json:"saturated"`     // calls handed on because the agent was full
	Notified    int64            `json:"notified"`      // messages and notifications handed to a worker
	Events      int64            `json:"events"`        // messages and notifications of workers published
	LastError   string           `json:"last_error,omitempty"`
	Durable     *DurableStats    `json:"durable,omitempty"`
	Pool        bridge.PoolStats `json:"pool"`
}

// DurableStats counts the durable messages an agent took.
type DurableStats struct {
	Done        int64 `json:"done"`        // acknowledged
	Redelivered int64 `json:"redelivered"` // handed back to the stream (worker died, no worker)
	Terminated  int64 `json:"terminated"`  // the call raised: not redelivered
}

// Stats returns a snapshot of the agent's counters and its pool.
func (a *Agent) Stats() AgentStats {
	a.mu.Lock()
	last := a.lastErr
	a.mu.Unlock()
	st := AgentStats{
		InFlight: a.inFlight.Load(), MaxInFlight: a.max.Load(), Served: a.served.Load(), Failed: a.failed.Load(),
		Saturated: a.saturated.Load(), Notified: a.notified.Load(), Events: a.events.Load(), LastError: last,
	}
	if p := a.pool.Load(); p != nil {
		st.Pool = p.Stats()
	}
	if d := a.durable.Load(); d != nil {
		ds := d.stats()
		st.Durable = &ds
	}
	return st
}

// statsData is the micro STATS data of each endpoint.
func (a *Agent) statsData(e *micro.Endpoint) any {
	if e.Name == "call" {
		return a.Stats()
	}
	return map[string]int64{"notified": a.notified.Load()}
}

// leave marks the agent stopping and leaves the service and its cancel and beat subjects,
// for Shutdown and Kill; it returns the service's stop error.
func (a *Agent) leave() error {
	a.mu.Lock()
	a.stopping = true
	a.mu.Unlock()
	var err error
	if a.svc != nil {
		err = a.svc.Stop()
	}
	if a.cancelSub != nil {
		_ = a.cancelSub.Unsubscribe()
	}
	if a.beatSub != nil {
		_ = a.beatSub.Unsubscribe()
	}
	return err
}

// Shutdown stops the agent gracefully: it leaves the service (its NATS subscriptions are
// drained, so new calls go to other agents; a call that still reaches it is answered "not
// run", and its caller sends it elsewhere), stops taking durable messages, lets the calls
// in flight finish, then shuts its pool down. If ctx ends first, the calls still running are
// answered code 502, TypeAgentStopped (an idempotent one goes to another agent), and the
// workers are killed. It is safe to call more than once.
func (a *Agent) Shutdown(ctx context.Context) error {
	if ctx == nil {
		return errNilContext
	}
	if a.zero() {
		return errZeroAgent
	}
	a.stopOnce.Do(func() {
		var errs []error
		if err := a.leave(); err != nil {
			errs = append(errs, err)
		}
		done := make(chan struct{})
		go func() {
			if d := a.durable.Load(); d != nil {
				d.stop() // lets the durable messages in progress finish
			}
			a.calls.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			a.cancelAll()
			<-done
		}
		a.stopServers()
		if p := a.pool.Load(); p != nil {
			if err := p.Shutdown(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		a.cancelBase()
		a.stopErr = errors.Join(errs...)
	})
	return a.stopErr
}

// Close shuts the agent down, letting calls in flight run for up to 30 s.
func (a *Agent) Close() error {
	if a.zero() {
		return errZeroAgent
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return a.Shutdown(ctx)
}

// Kill ends the agent at once: its workers get SIGKILL, its calls in flight fail with code
// 502, TypeAgentStopped.
func (a *Agent) Kill() {
	if a.zero() {
		return
	}
	_ = a.leave()
	a.cancelAll()
	if d := a.durable.Load(); d != nil {
		d.stop() // its messages in progress were cancelled: they go back to the stream
	}
	if p := a.pool.Load(); p != nil {
		p.Kill()
	}
	a.calls.Wait()
	a.stopServers()
}

// zero reports an Agent that NewAgent did not make (see errZeroAgent).
func (a *Agent) zero() bool { return a == nil || a.cancelBase == nil }

// cancelAll cancels every call in flight, and those still arriving, and the durable
// messages in progress.
func (a *Agent) cancelAll() {
	a.cancelBase()
	a.mu.Lock()
	a.killed = true
	for _, cancel := range a.running {
		cancel(errAgentStopped)
	}
	a.mu.Unlock()
}

// stopServers ends the idle server goroutines once no call runs.
func (a *Agent) stopServers() { a.quitOnce.Do(func() { close(a.quit) }) }

// publishEvent returns the pool listener that publishes a worker's notification method to
// the service's events subject.
func (a *Agent) publishEvent(method string) bridge.NotificationHandler {
	enc := protocol.NewEncoder() // notification handlers run one at a time per worker...
	var mu sync.Mutex            // ...but the workers of the pool run them concurrently
	return func(args bridge.Args) {
		mu.Lock()
		frame, err := enc.Notification(method, msgpack.RawMessage(args.Raw()))
		var body []byte
		if err == nil {
			body = append([]byte(nil), frame[4:]...)
		}
		mu.Unlock()
		if err == nil && !a.objects.fits(len(body)) {
			err = &PayloadError{What: "a worker's " + protocol.QuoteName(method), Size: int64(len(body)), Limit: a.objects.limit(),
				Err: errors.New("events do not travel through the object store")}
		}
		if err == nil {
			err = a.nc.PublishMsg(&nats.Msg{Subject: a.subj.events, Data: body,
				Header: nats.Header{HeaderAgent: []string{a.id}, HeaderHost: []string{a.host}}})
		}
		if err != nil {
			a.log.Warn("polyfork: remote: a worker's notification was not published", "method", method, "err", err)
			return
		}
		a.events.Add(1)
	}
}

// setLastError records the last failure for the stats.
func (a *Agent) setLastError(s string) {
	// One line, bounded: the stats travel in one NATS message ($SRV.STATS), which a huge
	// error would push above the maximum payload, hiding the agent from Agents.
	s = clip(firstLine(s), maxErrorLine)
	a.mu.Lock()
	a.lastErr = s
	a.mu.Unlock()
}
