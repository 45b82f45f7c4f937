#!/usr/bin/env bash
# Runs each Go fuzz target of ./protocol for FUZZTIME (make fuzz).
#
# Go's fuzzing engine sometimes reports "fuzzing process hung or terminated unexpectedly"
# for an input that passes when run alone (golang/go#56238, open): the worker, not the code
# under test, failed. So when a target fails that way, the input it wrote is run alone: if
# it fails there too, that is a real finding and the run fails, keeping the input in
# testdata/fuzz for the commit that fixes it. If it passes, the input is removed, and the
# target runs once more; a second failure of any kind fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-100000x}

# run_target T: one fuzzing run of target T; prints its output; returns its status.
run_target() {
	local t=$1 out status
	echo "go test -fuzz=$t -fuzztime=$FUZZTIME ./protocol"
	out=$("$GO" test -run='^$' -fuzz="^$t\$" -fuzztime="$FUZZTIME" ./protocol 2>&1)
	status=$?
	printf '%s\n' "$out"
	LAST_OUT=$out
	return $status
}

for t in FuzzDecodeMessage FuzzDecodeValue FuzzFrameReader FuzzEncoder; do
	run_target "$t" && continue
	input=$(printf '%s\n' "$LAST_OUT" | sed -n 's/.*Failing input written to \(testdata\/fuzz\/[^ ]*\).*/\1/p' | head -1)
	if ! printf '%s\n' "$LAST_OUT" | grep -q 'fuzzing process hung or terminated unexpectedly' || [ -z "$input" ]; then
		exit 1 # a failure of the code under test: the input stays in testdata/fuzz
	fi
	name=${input#testdata/fuzz/}
	echo "fuzz: $t: the worker failed on $name; running that input alone"
	if ! "$GO" test -count=1 -run="^$t\$/^${name#*/}\$" ./protocol; then
		echo "fuzz: $t: $name fails alone too: kept in protocol/$input" >&2
		exit 1
	fi
	echo "fuzz: $t: $name passes alone: the engine's spurious failure (golang/go#56238); removed, running $t again"
	rm -f "protocol/$input"
	run_target "$t" || exit 1
done
