package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// The soak itself runs with make soak; these tests cover the parts that need no process.

func TestParseMetricsSumsLabelledSamples(t *testing.T) {
	page := `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 25
polyfork_worker_restarts_total{worker="0"} 3
polyfork_worker_restarts_total{worker="1"} 4
process_resident_memory_bytes 1.3795328e+07
polyfork_crash_looping 0
`
	m := parseMetrics(page)
	for name, want := range map[string]float64{
		"go_goroutines": 25, "polyfork_worker_restarts_total": 7, "process_resident_memory_bytes": 13795328, "polyfork_crash_looping": 0,
	} {
		if m[name] != want {
			t.Errorf("%s = %v, want %v", name, m[name], want)
		}
	}
}

func TestParseProcStatus(t *testing.T) {
	st := parseProcStatus("Name:\tpolyfork\nVmHWM:\t   30000 kB\nVmRSS:\t   21000 kB\nThreads:\t9\n")
	if st["VmRSS"] != 21000<<10 || st["VmHWM"] != 30000<<10 || st["Threads"] != 9 {
		t.Errorf("got %v", st)
	}
}

func TestCallsCarryWhatTheirAnswerMustBe(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	methods := map[string]int{}
	for n := int64(1); n <= 2000; n++ {
		c := newCall(n, rng)
		methods[c.method]++
		var params []any
		if err := json.Unmarshal(c.body, &params); err != nil {
			t.Fatalf("call %d: params %s: %v", n, c.body, err)
		}
		switch c.method {
		case "echo":
			if !bytes.Contains(c.body, []byte(strings.TrimSuffix(string(mustJSON(n)), "\n"))) {
				t.Errorf("echo %d does not carry its number: %s", n, c.body)
			}
			if got := roundTrip(params[0]); !equalJSON(got, c.want) {
				t.Errorf("echo %d: want %v, params %v", n, c.want, got)
			}
		case "fail":
			if c.wantRaise == "" || params[0] != c.wantRaise {
				t.Errorf("fail %d must raise its message: %+v", n, c)
			}
		}
	}
	for _, m := range []string{"echo", "add", "fail", "sleep"} {
		if methods[m] == 0 {
			t.Errorf("no %s in 2000 calls: %v", m, methods)
		}
	}
}

func equalJSON(a, b any) bool { return string(mustJSON(a)) == string(mustJSON(b)) }

func TestTallyKeepsOneExamplePerFailure(t *testing.T) {
	tl := newTally()
	ok := outcome{Traffic: "call", Kind: "echo", Lang: "python", Status: 200, Verdict: answered}
	bad := outcome{Traffic: "call", Kind: "echo", Lang: "python", Status: 502, Type: "WorkerExited", Verdict: explained}
	tl.add(ok, "")
	tl.add(ok, "")
	tl.add(bad, "first")
	tl.add(bad, "second")
	rows := tl.rows()
	if len(rows) != 2 || rows[0].Count != 2 || rows[1].Count != 2 || rows[1].Example != "first" {
		t.Errorf("rows: %+v", rows)
	}
	if n := tl.sum(func(o outcome) bool { return o.Verdict == explained }); n != 2 {
		t.Errorf("sum = %d", n)
	}
}

func TestShortRunDefaults(t *testing.T) {
	c := config{short: true, calls: 500, killAge: -1}
	c.setDefaults()
	if c.calls != 500 || c.killEvery != 1000 || c.floodEvery != 5000 || c.killAge != time.Second {
		t.Errorf("%+v", c)
	}
	c = config{killAge: -1}
	c.setDefaults()
	if c.calls != 1_000_000 || c.killEvery != 4000 || c.killAge != 10*time.Second {
		t.Errorf("%+v", c)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1000: "-1,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
