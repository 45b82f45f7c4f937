package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// Spec is what one driver run measures. Every driver, whatever its language, takes it as
// KEY=VALUE arguments (Spec.Args) and ignores keys it does not know:
//
//	system    the system's name, echoed in the trial
//	sizes     payload sizes in bytes, comma-separated; each is an ASCII str echoed back
//	warm_ms   warm-up per size: round trips until warm_ms passed (at least 3) ...
//	warm_max  ... or warm_max round trips were made
//	lat_ms    latency: sequential round trips, each timed, until lat_ms passed ...
//	lat_min   ... and at least lat_min were made, or lat_max were made
//	lat_max
//	tput_ms   throughput: keep conc calls in flight for tput_ms, then wait for the rest
//	conc
//	lat, tput 1 to measure latency / throughput, 0 to skip it
//	hostcost  1 to measure the host's cost per call instead (the host-cost systems)
type Spec struct {
	System   string
	Sizes    []int
	WarmMs   int
	WarmMax  int
	LatMs    int
	LatMin   int
	LatMax   int
	TputMs   int
	Conc     int
	Lat      bool
	Tput     bool
	HostCost bool
}

// DefaultSpec returns the settings of a quick run for system.
func DefaultSpec(system string) Spec {
	return Spec{System: system, Sizes: Payloads, WarmMs: 20, WarmMax: 200, LatMs: 60, LatMin: 10,
		LatMax: 3000, TputMs: 50, Conc: 64, Lat: true, Tput: true}
}

// Args returns s as the KEY=VALUE arguments every driver takes.
func (s Spec) Args() []string {
	sizes := make([]string, len(s.Sizes))
	for i, n := range s.Sizes {
		sizes[i] = strconv.Itoa(n)
	}
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	args := []string{
		"system=" + s.System,
		"sizes=" + strings.Join(sizes, ","),
		"warm_ms=" + strconv.Itoa(s.WarmMs),
		"warm_max=" + strconv.Itoa(s.WarmMax),
		"lat_ms=" + strconv.Itoa(s.LatMs),
		"lat_min=" + strconv.Itoa(s.LatMin),
		"lat_max=" + strconv.Itoa(s.LatMax),
		"tput_ms=" + strconv.Itoa(s.TputMs),
		"conc=" + strconv.Itoa(s.Conc),
		"lat=" + b(s.Lat),
		"tput=" + b(s.Tput),
	}
	if s.HostCost { // only the Go driver measures host cost
		args = append(args, "hostcost=1")
	}
	return args
}

// ParseSpec reads KEY=VALUE arguments over DefaultSpec(""). Keys that are not Spec's are
// returned in extra (a driver's own keys, such as root=).
func ParseSpec(args []string) (s Spec, extra map[string]string, err error) {
	s = DefaultSpec("")
	extra = map[string]string{}
	ints := map[string]*int{"warm_ms": &s.WarmMs, "warm_max": &s.WarmMax, "lat_ms": &s.LatMs,
		"lat_min": &s.LatMin, "lat_max": &s.LatMax, "tput_ms": &s.TputMs, "conc": &s.Conc}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return s, nil, fmt.Errorf("bench: argument %q is not KEY=VALUE", a)
		}
		switch {
		case k == "system":
			s.System = v
		case k == "sizes":
			s.Sizes = nil
			for _, f := range strings.Split(v, ",") {
				n, err := strconv.Atoi(f)
				if err != nil || n < 0 {
					return s, nil, fmt.Errorf("bench: sizes=%s: %q is not a size in bytes", v, f)
				}
				s.Sizes = append(s.Sizes, n)
			}
		case k == "lat" || k == "tput" || k == "hostcost":
			if v != "0" && v != "1" {
				return s, nil, fmt.Errorf("bench: %s=%s: want 0 or 1", k, v)
			}
			*map[string]*bool{"lat": &s.Lat, "tput": &s.Tput, "hostcost": &s.HostCost}[k] = v == "1"
		case ints[k] != nil:
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return s, nil, fmt.Errorf("bench: %s=%s: want a count of 0 or more", k, v)
			}
			*ints[k] = n
		default:
			extra[k] = v
		}
	}
	if s.Conc < 1 {
		return s, nil, fmt.Errorf("bench: conc=%d: want at least 1 call in flight", s.Conc)
	}
	return s, extra, nil
}
