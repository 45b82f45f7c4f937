#!/usr/bin/env bash
# Profiles one system of the benchmark during a latency run (sequential round trips, parent
# and child pinned to CPU 1), both sides:
#
#   bench/profile/profile.sh SYSTEM [SIZE_BYTES] [SECONDS]     e.g. polyfork-python 16 3
#
# - the Go host: pprof CPU and allocation profiles (go tool pprof -top);
# - the child: Python cProfile, Node --cpu-prof, PHP Excimer (php-excimer, loaded for this run
#   only; else perf record), the C raw echo perf record -e cpu-clock;
# - the whole run: perf stat software counters (context switches, page faults, CPU time),
#   and perf record of CPU 1 split by process and library (kernel included).
# Outputs go to bench/out/profile/SYSTEM-SIZE/. Works for the Go-driven systems
# (polyfork-*, bare-*, raw-pipe-go). Run from the repository's root.
set -euo pipefail
sys=${1:?usage: bench/profile/profile.sh SYSTEM [SIZE_BYTES] [SECONDS]}
size=${2:-16}
secs=${3:-3}
root=$(pwd)
# as the runner does: children run the way users run them
unset PYTHONUNBUFFERED PYTHONDONTWRITEBYTECODE GOMAXPROCS
[ -f bench/children/raw_echo.c ] || { echo "profile.sh: run from the repository's root" >&2; exit 2; }
out=bench/out/profile/$sys-$size
rm -rf "$out" && mkdir -p "$out" bench/out/bin
go build -o bench/out/bin/benchrun ./bench/cmd/benchrun
gcc -O2 -pthread -o bench/out/bin/raw_echo bench/children/raw_echo.c

cpu=1 # the CPU pinned runs use (bench.PinnedCPU)
args=(root="$root" system="$sys" sizes="$size" warm_ms=200 lat_ms=$((secs * 1000)) lat_max=100000000 tput=0)
# 1. perf stat of the whole run, no profiler attached
perf stat -e task-clock,context-switches,cpu-migrations,page-faults -o "$out/perf-stat.txt" -- \
  taskset -c 1 bench/out/bin/benchrun drive "${args[@]}" > "$out/trial-plain.json"
# 2. where CPU 1's time goes, by process and library (kernel included), in a plain run
perf record -q -e cpu-clock -C "$cpu" -o "$out/cpu.perf.data" -- \
  taskset -c "$cpu" bench/out/bin/benchrun drive "${args[@]}" > "$out/trial-perf.json" 2>/dev/null
# 3. the same run with the Go host's pprof and the child's profiler
POLYFORK_EXCIMER_OUT="$root/$out/child.excimer.txt" taskset -c 1 bench/out/bin/benchrun drive "${args[@]}" cpuprofile="$out/host.cpu" memprofile="$out/host.allocs" \
  child_profile="$root/$out" > "$out/trial-profiled.json"

calls() { python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); l=sorted(t["payloads"][0]["lat_ns"]); print(len(l), "calls, p50 %.1f us" % (l[len(l)//2]/1e3))' "$1"; }
echo "== $sys at $size B: plain run $(calls "$out/trial-plain.json"); profiled run $(calls "$out/trial-profiled.json")"
echo "== perf stat (whole run, parent and child)"
grep -E 'task-clock|context-switches|cpu-migrations|page-faults|seconds time' "$out/perf-stat.txt" || true
echo "== CPU $cpu by process and library (perf record -C $cpu; % of samples; plain run $(calls "$out/trial-perf.json"))"
perf report -i "$out/cpu.perf.data" --stdio --sort comm,dso 2>/dev/null | grep -v '^#' | grep -v '^$' | sed -n '1,14p'
echo "== Go host CPU (pprof -top)"
go tool pprof -top -nodecount=30 bench/out/bin/benchrun "$out/host.cpu" 2>/dev/null | sed -n '1,40p'
echo "== Go host allocations, bytes (pprof -sample_index=alloc_space)"
go tool pprof -top -nodecount=15 -sample_index=alloc_space bench/out/bin/benchrun "$out/host.allocs" 2>/dev/null | sed -n '1,22p'
echo "== Go host allocations, objects (pprof -sample_index=alloc_objects)"
go tool pprof -top -nodecount=15 -sample_index=alloc_objects bench/out/bin/benchrun "$out/host.allocs" 2>/dev/null | sed -n '1,22p'
echo "== child"
if [ -f "$out/child.pstats" ]; then
  python3 -c 'import pstats,sys; pstats.Stats(sys.argv[1]).sort_stats("tottime").print_stats(25)' "$out/child.pstats" | sed -n '1,45p'
elif ls "$out"/*.cpuprofile >/dev/null 2>&1; then
  node bench/profile/cpuprofile_top.js "$out"/*.cpuprofile
elif [ -f "$out/child.excimer.txt" ]; then
  python3 bench/profile/collapsed_top.py "$out/child.excimer.txt" 25
elif [ -f "$out/child.perf.data" ]; then
  perf report -i "$out/child.perf.data" --stdio --no-children --sort symbol 2>/dev/null | grep -v '^#' | grep -v '^$' | sed -n '1,40p'
else
  echo "(no child profile)"
fi
