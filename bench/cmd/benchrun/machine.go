package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/polyfork/polyfork/bench"
)

// collectMachine describes this machine and the versions of everything measured.
func collectMachine(root string, p bench.Paths) bench.Machine {
	m := bench.Machine{CPUs: runtime.NumCPU(), Versions: map[string]string{"go": runtime.Version()}}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU = bench.CPUModel(string(b))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		m.OS = bench.OSName(string(b))
	}
	version := func(name string, argv ...string) {
		out, err := exec.Command(argv[0], argv[1:]...).Output()
		if err == nil {
			m.Versions[name] = strings.TrimSpace(string(out))
		} else {
			m.Versions[name] = "unknown (" + err.Error() + ")"
		}
	}
	version("python", p.Python, "-c", "import sys, msgpack; print(sys.version.split()[0], 'msgpack', '.'.join(map(str, msgpack.version)))")
	version("php", bench.Interpreter("php", os.Getenv), "-r", `echo PHP_VERSION, " ext-msgpack ", phpversion("msgpack");`)
	version("node", p.Node, "-p", `process.version + " msgpackr " + require(`+jsString(filepath.Join(root, "clients", "node", "node_modules", "msgpackr", "package.json"))+`).version`)
	version("gcc", "gcc", "-dumpfullversion")
	return m
}

func jsString(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}
