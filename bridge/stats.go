package bridge

import (
	"fmt"
	"strings"
	"time"
)

// WorkerStats describes one worker slot.
type WorkerStats struct {
	Index    int           `json:"index"`
	Pid      int           `json:"pid"`   // 0 while no worker runs
	State    string        `json:"state"` // starting, ready, busy, backoff, stopped
	JobsDone int64         `json:"jobs_done"`
	InFlight int           `json:"in_flight"`
	Window   int           `json:"window"`   // calls it may take at once now`
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
	if p.zero() {
		return PoolStats{}
	}
	now, tick := p.clk.Now(), p.clk.Tick()
	p.mu.Lock()
	defer p.mu.Unlock()
	st := PoolStats{Retiring: len(p.retiring), Queued: p.waiters.Len(), CrashLooping: p.looping}
	if p.lastFail != nil {
		st.LastFailure = p.lastFail.Error()
	}
	for _, s := range p.slots {
		ws := WorkerStats{Index: s.index, State: s.state.String(), Restarts: s.restarts, LastExit: s.lastExit}
		if r := s.current; r != nil {
			ws.Pid = r.w.Pid()
			ws.JobsDone = r.jobs
			ws.InFlight = r.inflight
			ws.Window = p.capacityLocked(r, tick)
			ws.RSS = r.rss
			ws.Uptime = now.Sub(r.started)
			if r.inflight > 0 {
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
