package bench

import (
	"fmt"
	"path/filepath"
	"sort"
)

// Paths locates what the runner starts.
type Paths struct {
	Root    string // the repository's root
	Self    string // the benchrun binary, which is also the Go driver (`benchrun drive`)
	RawEcho string // the C raw echo, built by the runner
	Node    string // POLYFORK_NODE
	Python  string // POLYFORK_PYTHON
}

// DriverCommand returns the argv that runs one entry of a schedule: the system's driver
// with spec's KEY=VALUE arguments and the system's Params, prefixed with taskset -c 1
// when pinned.
func DriverCommand(sys System, spec Spec, pinned bool, p Paths) ([]string, error) {
	var argv []string
	switch sys.Driver {
	case DriverGo:
		argv = []string{p.Self, "drive", "root=" + p.Root}
	case DriverC:
		argv = []string{p.RawEcho, "drive"}
	case DriverNode:
		argv = []string{p.Node, filepath.Join(p.Root, "bench", "peers", "node_fork.js")}
	case DriverPython:
		argv = []string{p.Python, filepath.Join(p.Root, "bench", "peers", "python_mp.py")}
	default:
		return nil, fmt.Errorf("bench: system %s has no driver %q", sys.Name, sys.Driver)
	}
	argv = append(argv, spec.Args()...)
	keys := make([]string, 0, len(sys.Params))
	for k := range sys.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		argv = append(argv, k+"="+sys.Params[k])
	}
	if pinned {
		argv = append([]string{"taskset", "-c", PinnedCPU}, argv...)
	}
	return argv, nil
}

// PinnedCPU is the CPU that pinned trials run on (parent and child: children inherit the
// affinity).
const PinnedCPU = "1"
