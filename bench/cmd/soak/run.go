package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// soak is one run: the serves, the traffic's counters and what the monitor saw.
type soak struct {
	c       config
	servers []*server
	tally   *tally
	issued  atomic.Int64 // calls started
	hostile atomic.Int64 // hostile requests started
	started time.Time

	mu    sync.Mutex
	kills []kill
	peaks map[string]*snapshot // the highest of each gauge the monitor saw, by language
	seen  map[string]*seen
}

// kill is one SIGKILL the soak sent.
type kill struct {
	Lang  string `json:"lang"`
	Pid   int    `json:"pid"`
	After int64  `json:"after_calls"`
}

// seen is what the monitor noticed during the run besides the peaks.
type seen struct {
	CrashLooping bool `json:"crash_looping"`
	MinReady     int  `json:"min_workers_ready"`
	Floods       int  `json:"floods"`
}

// run runs the soak and reports whether every check passed.
func run(c config) (bool, error) {
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return false, err
	}
	s := &soak{c: c, tally: newTally(), peaks: map[string]*snapshot{}, seen: map[string]*seen{}}
	defer func() {
		for _, sv := range s.servers {
			select {
			case <-sv.exited:
			default:
				sv.kill()
			}
		}
	}()
	fmt.Fprintf(os.Stderr, "soak: starting %d serves (%v, %d workers each)\n", len(c.langs), c.langs, c.workers)
	for _, lang := range c.langs {
		sv, err := startServer(c, lang, filepath.Join(c.out, "soak-"+lang+".log"))
		if err != nil {
			return false, err
		}
		s.servers = append(s.servers, sv)
		s.peaks[lang] = &snapshot{}
		s.seen[lang] = &seen{MinReady: c.workers}
	}
	start := map[string]snapshot{}
	for _, sv := range s.servers {
		snap, err := sv.snapshot()
		if err != nil {
			return false, err
		}
		start[sv.lang] = snap
	}

	ctx, stopMonitor := context.WithCancel(context.Background())
	monitorDone := make(chan struct{})
	go func() { defer close(monitorDone); s.monitor(ctx) }()

	fmt.Fprintf(os.Stderr, "soak: %d calls, a kill every ~%d calls (of a worker up %v or more), %.1f%% hostile requests, slow requests every %d calls, a flood of %d connections every %d calls (seed %d)\n",
		c.calls, c.killEvery, c.killAge, 100*c.hostileShare, c.slowEvery, c.floodConns, c.floodEvery, c.seed)
	s.started = time.Now()
	s.traffic()
	took := time.Since(s.started)
	fmt.Fprintf(os.Stderr, "soak: traffic done in %v; waiting for the serves to settle\n", took.Round(time.Second))

	end := map[string]snapshot{}
	var settleErrs []string
	for _, sv := range s.servers {
		if err := sv.waitSettled(2*time.Minute, nil); err != nil {
			settleErrs = append(settleErrs, err.Error())
		}
		snap, err := sv.settleLeaks(start[sv.lang], 30*time.Second)
		if err != nil {
			settleErrs = append(settleErrs, err.Error())
		}
		end[sv.lang] = snap
	}
	restarts := map[string]int{}
	for _, sv := range s.servers {
		ws, err := sv.workerStats()
		if err != nil {
			settleErrs = append(settleErrs, err.Error())
		}
		for _, w := range ws {
			restarts[sv.lang] += w.Restarts
		}
	}
	stopMonitor()
	<-monitorDone

	stops := map[string]stopResult{}
	for _, sv := range s.servers {
		code, err := sv.stop(time.Minute)
		r := stopResult{Code: code, Left: sv.leftRunning()}
		if err != nil {
			r.Err = err.Error()
		}
		stops[sv.lang] = r
	}

	rep := s.report(took, start, end, restarts, stops, settleErrs)
	rep.print(os.Stdout)
	if err := rep.write(filepath.Join(c.out, "soak.json")); err != nil {
		return false, err
	}
	return rep.Passed, nil
}

// traffic runs the callers until the calls are all made, with the killer, the slow
// requests and the floods alongside, and waits for everything it started.
func (s *soak) traffic() {
	c := s.c
	var callers, extras sync.WaitGroup
	clients := map[*server]*http.Client{}
	for i, sv := range s.servers {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.callers + 2}}
		clients[sv] = client
		for g := 0; g < c.callers; g++ {
			rng := rand.New(rand.NewPCG(c.seed, uint64(i*1000+g)))
			callers.Add(1)
			go func() {
				defer callers.Done()
				s.caller(sv, client, rng)
			}()
		}
	}
	done := make(chan struct{})
	go func() { callers.Wait(); close(done) }()

	rng := rand.New(rand.NewPCG(c.seed, 1<<32))
	nextKill := c.killEvery/2 + rng.Int64N(c.killEvery+1)
	nextSlow, nextFlood := c.slowEvery, c.floodEvery
	var retryKill time.Time
	var flooding atomic.Bool
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	lastProgress := time.Now()
loop:
	for {
		select {
		case <-done:
			break loop
		case <-tick.C:
		}
		n := s.issued.Load()
		if n >= nextKill && n < c.calls && time.Now().After(retryKill) {
			if s.killOne(rng, n) {
				nextKill = n + c.killEvery/2 + rng.Int64N(c.killEvery+1)
			} else {
				retryKill = time.Now().Add(200 * time.Millisecond) // no worker old enough yet
			}
		}
		if n >= nextSlow {
			nextSlow = n + c.slowEvery
			sv := s.servers[rng.IntN(len(s.servers))]
			for _, h := range slowHostiles(c) {
				extras.Add(1)
				s.hostile.Add(1)
				go func() {
					defer extras.Done()
					s.tally.add(exchange(sv, h))
				}()
			}
		}
		if n >= nextFlood && n < c.calls {
			nextFlood = n + c.floodEvery
			if flooding.CompareAndSwap(false, true) {
				sv := s.servers[rng.IntN(len(s.servers))]
				extras.Add(1)
				go func() {
					defer extras.Done()
					defer flooding.Store(false)
					s.flood(sv)
				}()
			}
		}
		if time.Since(lastProgress) >= 15*time.Second {
			lastProgress = time.Now()
			el := time.Since(s.started)
			fmt.Fprintf(os.Stderr, "soak: %9d calls  %6.0f calls/s  %4d kills  %7d hostile  %v\n",
				n, float64(n)/el.Seconds(), len(s.killList()), s.hostile.Load(), el.Round(time.Second))
		}
	}
	extras.Wait()
	for _, client := range clients {
		client.CloseIdleConnections()
	}
}

// caller makes calls on sv until the soak has made them all, with a hostile request
// now and then.
func (s *soak) caller(sv *server, client *http.Client, rng *rand.Rand) {
	for {
		if rng.Float64() < s.c.hostileShare {
			s.hostile.Add(1)
			s.tally.add(exchange(sv, fastHostile(s.c, rng)))
			continue
		}
		n := s.issued.Add(1)
		if n > s.c.calls {
			s.issued.Add(-1)
			return
		}
		s.tally.add(doCall(context.Background(), client, sv, newCall(n, rng)))
	}
}

// killOne sends SIGKILL to a random worker among those of every serve that have run for
// at least c.killAge. It returns false when there is none yet.
//
// The age keeps the kills within what a pool takes for the occasional crash: a worker
// that dies young counts toward the pool's restart backoff (reset after 10 s of healthy
// uptime) and crash-loop threshold, and a pool whose workers keep dying young backs off
// and fails calls fast (503 CrashLooping), by design. -kill-age 0 kills at random anyway.
func (s *soak) killOne(rng *rand.Rand, after int64) bool {
	type victim struct {
		sv  *server
		pid int
	}
	var victims []victim
	for _, sv := range s.servers {
		ws, err := sv.workerStats()
		if err != nil {
			continue
		}
		for _, w := range ws {
			if w.Pid != 0 && time.Duration(w.Uptime) >= s.c.killAge {
				victims = append(victims, victim{sv, w.Pid})
			}
		}
	}
	if len(victims) == 0 {
		return false
	}
	v := victims[rng.IntN(len(victims))]
	v.sv.kills.Add(1) // before the kill: the calls it fails must find it counted
	if err := syscall.Kill(v.pid, syscall.SIGKILL); err != nil {
		v.sv.kills.Add(-1)
		return false
	}
	s.mu.Lock()
	s.kills = append(s.kills, kill{Lang: v.sv.lang, Pid: v.pid, After: after})
	s.mu.Unlock()
	return true
}

func (s *soak) killList() []kill {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]kill(nil), s.kills...)
}

// flood opens c.floodConns connections to sv at once, of every flood kind, and waits
// until serve has dealt with each.
func (s *soak) flood(sv *server) {
	kinds := floodHostiles()
	var wg sync.WaitGroup
	for i := 0; i < s.c.floodConns; i++ {
		h := kinds[i%len(kinds)]
		s.hostile.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.tally.add(exchange(sv, h))
		}()
	}
	wg.Wait()
	s.mu.Lock()
	s.seen[sv.lang].Floods++
	s.mu.Unlock()
}

// monitor samples every serve twice a second until ctx ends, keeping the peaks.
func (s *soak) monitor(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		for _, sv := range s.servers {
			_, _ = sv.workerStats() // remembers the pids, for the check that none is left
			snap, err := sv.snapshot()
			if err != nil {
				continue
			}
			s.mu.Lock()
			p, sn := s.peaks[sv.lang], s.seen[sv.lang]
			p.Goroutines = max(p.Goroutines, snap.Goroutines)
			p.FDs = max(p.FDs, snap.FDs)
			p.ProcFDs = max(p.ProcFDs, snap.ProcFDs)
			p.RSS = max(p.RSS, snap.RSS)
			p.ProcRSS = max(p.ProcRSS, snap.ProcRSS)
			p.PeakRSS = max(p.PeakRSS, snap.PeakRSS)
			p.HeapAlloc = max(p.HeapAlloc, snap.HeapAlloc)
			p.Threads = max(p.Threads, snap.Threads)
			p.Conns = max(p.Conns, snap.Conns)
			p.Arriving = max(p.Arriving, snap.Arriving)
			p.BodyBytes = max(p.BodyBytes, snap.BodyBytes)
			p.Queued = max(p.Queued, snap.Queued)
			sn.CrashLooping = sn.CrashLooping || snap.CrashLooping
			sn.MinReady = min(sn.MinReady, snap.Ready)
			s.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
