package bench

import (
	"strings"
	"testing"
)

func TestParseTrial(t *testing.T) {
	spec := DefaultSpec("raw-pipe")
	spec.Sizes = []int{16, 1024}
	good := `{"system":"raw-pipe","payloads":[
		{"payload_bytes":16,"lat_ns":[4000,5000],"tput_calls":10,"tput_ns":1000},
		{"payload_bytes":1024,"lat_ns":[6000],"tput_calls":5,"tput_ns":1000}]}`
	tr, err := ParseTrial([]byte(good), spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Payloads) != 2 || tr.Payloads[0].LatNs[1] != 5000 || tr.Payloads[1].TputCalls != 5 {
		t.Fatalf("parsed %+v", tr)
	}

	bad := map[string]string{
		"not json":                            "printed no trial",
		`{"system":"x"}`:                      `measured "x"`,
		`{"system":"raw-pipe","payloads":[]}`: "asked for 2 sizes, got 0",
		`{"system":"raw-pipe","payloads":[{"payload_bytes":16,"lat_ns":[1],"tput_calls":1,"tput_ns":1},{"payload_bytes":99,"lat_ns":[1],"tput_calls":1,"tput_ns":1}]}`:    "is 99 bytes, want 1024",
		`{"system":"raw-pipe","payloads":[{"payload_bytes":16,"tput_calls":1,"tput_ns":1},{"payload_bytes":1024,"lat_ns":[1],"tput_calls":1,"tput_ns":1}]}`:               "no latency samples at 16 bytes",
		`{"system":"raw-pipe","payloads":[{"payload_bytes":16,"lat_ns":[1],"tput_calls":1,"tput_ns":1},{"payload_bytes":1024,"lat_ns":[1]}]}`:                             "no throughput at 1024 bytes",
		`{"system":"raw-pipe","payloads":[{"payload_bytes":16,"lat_ns":[-1],"tput_calls":1,"tput_ns":1},{"payload_bytes":1024,"lat_ns":[1],"tput_calls":1,"tput_ns":1}]}`: "a latency sample of -1 ns",
	}
	for out, want := range bad {
		if _, err := ParseTrial([]byte(out), spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseTrial(%.40q) = %v, want an error containing %q", out, err, want)
		}
	}

	spec.Lat = false // a 2-CPU throughput trial has no latency samples
	if _, err := ParseTrial([]byte(`{"system":"raw-pipe","payloads":[{"payload_bytes":16,"tput_calls":1,"tput_ns":1},{"payload_bytes":1024,"tput_calls":1,"tput_ns":1}]}`), spec); err != nil {
		t.Fatalf("throughput-only trial: %v", err)
	}
}
