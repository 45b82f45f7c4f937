package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// stopResult is how a serve ended on SIGTERM.
type stopResult struct {
	Code int    `json:"exit_status"`
	Err  string `json:"error,omitempty"`
	Left []int  `json:"workers_left_running,omitempty"`
}

// check is one pass/fail line of the report.
type check struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
}

// hostReport is what the soak measured of one serve process.
type hostReport struct {
	Lang     string     `json:"lang"`
	Start    snapshot   `json:"start"`
	Peak     snapshot   `json:"peak"`
	End      snapshot   `json:"end"`
	Kills    int        `json:"kills"`
	Restarts int        `json:"restarts"`
	Seen     seen       `json:"seen"`
	Stop     stopResult `json:"stop"`
	Logged   int        `json:"worker_exited_records"`
}

// report is the soak's result, printed as a table and written as JSON.
type report struct {
	When     time.Time    `json:"when"`
	CPUs     int          `json:"cpus"`
	Pinned   string       `json:"pinned"`
	Seed     uint64       `json:"seed"`
	Calls    int64        `json:"calls"`
	Hostile  int64        `json:"hostile_requests"`
	Took     float64      `json:"took_seconds"`
	Settings []string     `json:"serve_flags"`
	Outcomes []row        `json:"outcomes"`
	Hosts    []hostReport `json:"hosts"`
	Kills    []kill       `json:"kills"`
	Checks   []check      `json:"checks"`
	Passed   bool         `json:"passed"`
	took     time.Duration
	c        config
}

func (s *soak) report(took time.Duration, start, end map[string]snapshot, restarts map[string]int,
	stops map[string]stopResult, settleErrs []string) *report {
	c := s.c
	r := &report{When: time.Now().UTC(), CPUs: runtime.NumCPU(), Pinned: "no: serves, workers and the soak share every CPU",
		Seed: c.seed, Calls: s.issued.Load(), Hostile: s.hostile.Load(), Took: took.Seconds(), took: took,
		Settings: serveFlags(c), Outcomes: s.tally.rows(), Kills: s.killList(), c: c}
	for _, sv := range s.servers {
		s.mu.Lock()
		h := hostReport{Lang: sv.lang, Start: start[sv.lang], Peak: *s.peaks[sv.lang], End: end[sv.lang],
			Kills: int(sv.kills.Load()), Restarts: restarts[sv.lang], Seen: *s.seen[sv.lang], Stop: stops[sv.lang],
			Logged: sv.logCount("worker exited; restarting")}
		s.mu.Unlock()
		r.Hosts = append(r.Hosts, h)
	}

	add := func(name string, passed bool, format string, args ...any) {
		r.Checks = append(r.Checks, check{Name: name, Passed: passed, Detail: fmt.Sprintf(format, args...)})
	}
	calls := s.tally.sum(func(o outcome) bool { return o.Traffic == "call" })
	hostile := s.tally.sum(func(o outcome) bool { return o.Traffic == "hostile" })
	add("every call accounted for", calls == r.Calls && r.Calls == c.calls,
		"%d calls made of %d, %d with an outcome", r.Calls, c.calls, calls)
	add("every hostile request accounted for", hostile == r.Hostile, "%d sent, %d with an outcome", r.Hostile, hostile)
	lost := s.tally.sum(func(o outcome) bool { return o.Verdict == lost })
	add("none lost", lost == 0, "%d requests without an HTTP answer (transport error or hang)", lost)
	bad := s.tally.sum(func(o outcome) bool { return o.Verdict == unexpected && o.Traffic == "call" })
	add("calls answered right, or failed by a kill", bad == 0,
		"%d calls with a wrong result or a failure that no kill explains", bad)
	bad = s.tally.sum(func(o outcome) bool { return o.Verdict == unexpected && o.Traffic == "hostile" })
	add("hostile requests answered as they must be", bad == 0, "%d hostile requests got another answer", bad)

	for _, h := range r.Hosts {
		add(h.Lang+": only the killed workers died", h.Restarts == h.Kills,
			"%d kills, %d restarts", h.Kills, h.Restarts)
		add(h.Lang+": connections within -max-conns", h.Peak.Conns <= c.maxConns,
			"peak %d, limit %d", h.Peak.Conns, c.maxConns)
		add(h.Lang+": goroutines back to baseline", h.End.Goroutines <= h.Start.Goroutines,
			"start %d, peak %d, end %d", h.Start.Goroutines, h.Peak.Goroutines, h.End.Goroutines)
		add(h.Lang+": descriptors back to baseline", h.End.FDs <= h.Start.FDs && h.End.ProcFDs <= h.Start.ProcFDs,
			"start %d, peak %d, end %d", h.Start.ProcFDs, h.Peak.ProcFDs, h.End.ProcFDs)
		add(h.Lang+": RSS back to baseline", h.End.ProcRSS <= h.Start.ProcRSS+c.rssSlack,
			"start %s, peak %s, end %s (allowed: start + %s)", mib(h.Start.ProcRSS), mib(h.End.PeakRSS), mib(h.End.ProcRSS), mib(c.rssSlack))
		add(h.Lang+": drained on SIGTERM, nothing left running", h.Stop.Code == 0 && h.Stop.Err == "" && len(h.Stop.Left) == 0,
			"exit status %d%s, %d workers left running", h.Stop.Code, prefixed("; ", h.Stop.Err), len(h.Stop.Left))
	}
	add("serves settled after the traffic", len(settleErrs) == 0, "%s", strings.Join(settleErrs, "; "))
	r.Passed = true
	for _, ch := range r.Checks {
		r.Passed = r.Passed && ch.Passed
	}
	return r
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// print writes the summary tables.
func (r *report) print(out io.Writer) {
	c := r.c
	fmt.Fprintf(out, "\npolyfork soak: %s calls and %s hostile requests through %d serves (%s; %d workers each) in %v: %.0f calls/s\n",
		thousands(r.Calls), thousands(r.Hostile), len(r.Hosts), strings.Join(c.langs, ", "), c.workers, r.took.Round(time.Second),
		float64(r.Calls)/r.took.Seconds())
	fmt.Fprintf(out, "a kill -9 every ~%s calls of a worker up %v or more; %.1f%% hostile requests; a flood of %d connections every %s calls\n",
		thousands(c.killEvery), c.killAge, 100*c.hostileShare, c.floodConns, thousands(c.floodEvery))
	fmt.Fprintf(out, "%d CPUs, not pinned (serves, workers and the soak share them); seed %d; serve %s\n\n",
		r.CPUs, r.Seed, strings.Join(r.Settings, " "))

	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	langs := c.langs
	header := "traffic\tkind\toutcome\tstatus\ttype\t"
	for _, l := range langs {
		header += l + "\t"
	}
	fmt.Fprintln(w, header+"total\t")
	type key struct {
		traffic, kind string
		verdict       verdict
		status        int
		typ           string
	}
	var order []key
	byLang := map[key]map[string]int64{}
	for _, row := range r.Outcomes {
		k := key{row.Traffic, row.Kind, row.Verdict, row.Status, row.Type}
		if byLang[k] == nil {
			byLang[k] = map[string]int64{}
			order = append(order, k)
		}
		byLang[k][row.Lang] += row.Count
	}
	for _, k := range order {
		status := "-"
		if k.status != 0 {
			status = fmt.Sprint(k.status)
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t", k.traffic, k.kind, k.verdict, status, dash(k.typ))
		var total int64
		for _, l := range langs {
			line += thousands(byLang[k][l]) + "\t"
			total += byLang[k][l]
		}
		fmt.Fprintln(w, line+thousands(total)+"\t")
	}
	w.Flush()

	fmt.Fprintln(out)
	w = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "serve\tgoroutines start/peak/end\tfds start/peak/end\tRSS start/peak/end\theap peak\tconns peak\tkills\trestarts\tcrash-looping\texit\t")
	for _, h := range r.Hosts {
		fmt.Fprintf(w, "%s\t%d / %d / %d\t%d / %d / %d\t%s / %s / %s\t%s\t%d\t%d\t%d\t%v\t%d\t\n", h.Lang,
			h.Start.Goroutines, h.Peak.Goroutines, h.End.Goroutines,
			h.Start.ProcFDs, h.Peak.ProcFDs, h.End.ProcFDs,
			mib(h.Start.ProcRSS), mib(h.End.PeakRSS), mib(h.End.ProcRSS), mib(h.Peak.HeapAlloc),
			h.Peak.Conns, h.Kills, h.Restarts, yesNo(h.Seen.CrashLooping), h.Stop.Code)
	}
	w.Flush()

	examples := false
	for _, row := range r.Outcomes {
		if row.Example != "" && row.Verdict != explained {
			if !examples {
				fmt.Fprintln(out, "\nexamples of what did not go as it must:")
				examples = true
			}
			fmt.Fprintf(out, "  %s %s (%s, %d %s): %s\n", row.Traffic, row.Kind, row.Lang, row.Status, row.Type, clip(row.Example, 300))
		}
	}
	for _, row := range r.Outcomes {
		if row.Verdict == explained && row.Example != "" {
			fmt.Fprintf(out, "\na call failed by a kill, for example: %s\n", clip(row.Example, 300))
			break
		}
	}

	fmt.Fprintln(out)
	for _, ch := range r.Checks {
		mark := "PASS"
		if !ch.Passed {
			mark = "FAIL"
		}
		fmt.Fprintf(out, "%s  %s: %s\n", mark, ch.Name, ch.Detail)
	}
	if r.Passed {
		fmt.Fprintln(out, "\nsoak passed")
	} else {
		fmt.Fprintln(out, "\nsoak FAILED")
	}
}

func (r *report) write(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// thousands writes n with commas between groups of three digits.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
