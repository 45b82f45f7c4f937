// Package driver measures the benchmark's systems whose parent is a Go program: the
// polyfork host (one process, a pool, a process per call), the bare msgpack exchanges and
// the Go parent of the raw pipe. The runner starts it as `benchrun drive KEY=VALUE...`
// (see bench.Spec), pinned or not, and it prints one bench.Trial as JSON.
package driver
