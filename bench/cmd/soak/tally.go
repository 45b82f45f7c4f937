package main

import (
	"sort"
	"sync"
)

// verdict says what an outcome means for the soak's checks.
type verdict int

const (
	answered   verdict = iota // the answer asked for: a verified result, or the error the call asked for
	refused                   // a hostile request got the answer serve must give it
	explained                 // a call failed, and the failure names a worker the soak killed
	unexpected                // an answer that is wrong, or a failure nothing explains
	lost                      // no HTTP answer: a transport error or a hang
)

func (v verdict) String() string {
	switch v {
	case answered:
		return "answered"
	case refused:
		return "refused as it must be"
	case explained:
		return "failed by a kill"
	case unexpected:
		return "UNEXPECTED"
	case lost:
		return "LOST"
	}
	return "?"
}

// outcome is one line of the tally: what was sent to which serve, and how it ended.
type outcome struct {
	Traffic string  // "call" (through a pool) or "hostile"
	Kind    string  // the method called, or the hostile request's kind
	Lang    string  // the serve it went to
	Status  int     // HTTP status; 0 when there was none
	Type    string  // the error type of the answer, or what went wrong without one
	Verdict verdict // what it means for the checks
}

// tally counts outcomes; it is safe for concurrent use. It keeps one example message per
// outcome that is not answered, for the report.
type tally struct {
	mu      sync.Mutex
	counts  map[outcome]int64
	example map[outcome]string
}

func newTally() *tally {
	return &tally{counts: map[outcome]int64{}, example: map[outcome]string{}}
}

func (t *tally) add(o outcome, message string) {
	t.mu.Lock()
	t.counts[o]++
	if o.Verdict != answered && o.Verdict != refused {
		if _, ok := t.example[o]; !ok && message != "" {
			t.example[o] = message
		}
	}
	t.mu.Unlock()
}

// row is an outcome with its count, for the report.
type row struct {
	outcome
	Count   int64  `json:"count"`
	Example string `json:"example,omitempty"`
}

// rows returns every outcome, sorted by traffic, kind, verdict, status and type.
func (t *tally) rows() []row {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]row, 0, len(t.counts))
	for o, n := range t.counts {
		out = append(out, row{outcome: o, Count: n, Example: t.example[o]})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.Traffic != b.Traffic:
			return a.Traffic < b.Traffic
		case a.Kind != b.Kind:
			return a.Kind < b.Kind
		case a.Verdict != b.Verdict:
			return a.Verdict < b.Verdict
		case a.Status != b.Status:
			return a.Status < b.Status
		case a.Type != b.Type:
			return a.Type < b.Type
		}
		return a.Lang < b.Lang
	})
	return out
}

// sum returns how many outcomes match keep.
func (t *tally) sum(keep func(outcome) bool) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int64
	for o, c := range t.counts {
		if keep(o) {
			n += c
		}
	}
	return n
}

// MarshalText writes a verdict by name in the JSON summary.
func (v verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }
