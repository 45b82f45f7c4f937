package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Run is everything one run of the runner produced: bench/out/{quick,full}-run.json, and
// bench/results/before.json for the "before" run the report compares with.
type Run struct {
	Kind    string  `json:"kind"` // quick or full
	Date    string  `json:"date"` // RFC 3339, UTC
	Machine Machine `json:"machine"`
	Rounds  int     `json:"rounds"`
	Spec    Spec    `json:"spec"`
	TwoCPU  bool    `json:"two_cpu"`
	Seconds float64 `json:"seconds"`
	Rows    []Row   `json:"rows"`
	// Failures are the driver runs that failed (their rounds are left out of Rows).
	Failures []Failure `json:"failures,omitempty"`
	GoBench  []GoBench `json:"go_bench,omitempty"`
}

// Machine describes where a run was made.
type Machine struct {
	CPU      string            `json:"cpu"`
	CPUs     int               `json:"cpus"`
	Kernel   string            `json:"kernel"`
	OS       string            `json:"os"`
	Versions map[string]string `json:"versions"` // go, python (+ msgpack), php (+ msgpack), node (+ msgpackr), gcc
}

// GoBench is one line of `go test -bench -benchmem` output.
type GoBench struct {
	Package     string  `json:"package"`
	Name        string  `json:"name"` // without the -GOMAXPROCS suffix
	Iterations  int64   `json:"iterations"`
	NsPerOp     float64 `json:"ns_per_op"`
	MBPerS      float64 `json:"mb_per_s,omitempty"`
	BytesPerOp  int64   `json:"bytes_per_op"`
	AllocsPerOp int64   `json:"allocs_per_op"`
}

// LoadRun reads a Run saved as JSON.
func LoadRun(file string) (Run, error) {
	var r Run
	b, err := os.ReadFile(file)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("bench: %s is not a saved run: %w", file, err)
	}
	return r, nil
}

// ParseGoBench reads the output of `go test -bench . -benchmem` for several packages
// (their "pkg:" lines say which); lines that are not results are skipped.
func ParseGoBench(out string) []GoBench {
	var res []GoBench
	pkg := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if p, ok := strings.CutPrefix(line, "pkg:"); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		iters, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		g := GoBench{Package: pkg, Name: trimProcs(f[0]), Iterations: iters}
		for i := 2; i+1 < len(f); i += 2 {
			v, unit := f[i], f[i+1]
			switch unit {
			case "ns/op":
				g.NsPerOp, _ = strconv.ParseFloat(v, 64)
			case "MB/s":
				g.MBPerS, _ = strconv.ParseFloat(v, 64)
			case "B/op":
				g.BytesPerOp, _ = strconv.ParseInt(v, 10, 64)
			case "allocs/op":
				g.AllocsPerOp, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		res = append(res, g)
	}
	return res
}

// trimProcs drops the "-N" GOMAXPROCS suffix of a benchmark's name.
func trimProcs(name string) string {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name
	}
	if _, err := strconv.Atoi(name[i+1:]); err != nil {
		return name
	}
	return name[:i]
}

// CPUModel returns the "model name" of /proc/cpuinfo's text, or "".
func CPUModel(cpuinfo string) string {
	sc := bufio.NewScanner(strings.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// OSName returns PRETTY_NAME of /etc/os-release's text, or "".
func OSName(osRelease string) string {
	sc := bufio.NewScanner(strings.NewReader(osRelease))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
