# polyfork: every command a contributor needs. `make test` is what CI runs (.ci/run).
GO      ?= go
PYTHON  ?= python3

.PHONY: test lint test-go test-python test-php test-node demo setup install fuzz

## test: every test of every language (Go with -race, Python on both interpreters, PHP, Node),
## and a short run of every fuzz target; installs what is missing first (scripts/setup.sh)
test: setup
	$(MAKE) lint test-go test-python test-php test-node fuzz

FUZZTIME ?= 100000x
## fuzz: each Go fuzz target for FUZZTIME (100000 inputs, about 5 s here; the committed corpus in
## testdata/fuzz runs in every go test too). Longer: make fuzz FUZZTIME=10000000x. A count, not
## a duration: with a duration Go 1.26's fuzz coordinator can fail a clean run with "context
## deadline exceeded" as the time runs out (golang/go#75804, fixed in Go 1.27). The engine's
## spurious "fuzzing process hung" is told from a real finding by running the input alone
## (scripts/fuzz.sh, golang/go#56238).
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

## lint: gofmt and go vet must be clean
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	$(GO) vet ./...

test-go:
	$(GO) test -race -count=1 ./...
	cd bench && $(GO) vet ./... && $(GO) test -count=1 ./...

# The Python client on the python3 on PATH and on Debian's /usr/bin/python3 (msgpack 1.0.3);
# the stdout-takeover tests run with and without PYTHONUNBUFFERED inside each run.
test-python:
	$(PYTHON) -m pytest -q clients/python/tests
	@if [ -x /usr/bin/python3 ] && [ "$$(command -v $(PYTHON))" != /usr/bin/python3 ]; then \
		echo "POLYFORK_PYTHON=/usr/bin/python3 /usr/bin/python3 -m pytest -q clients/python/tests"; \
		POLYFORK_PYTHON=/usr/bin/python3 /usr/bin/python3 -m pytest -q clients/python/tests; fi

test-php:
	phpunit -c clients/php/phpunit.xml.dist

test-node:
	cd clients/node && npm test && npm run test:types

## install: the polyfork command into $(go env GOBIN), or else the first $(go env GOPATH)/bin;
## says where it went, and how to put that directory on PATH when it is not
install:
	$(GO) install ./cmd/polyfork
	@bin=$$($(GO) env GOBIN); [ -n "$$bin" ] || bin=$$($(GO) env GOPATH | cut -d: -f1)/bin; \
	echo "installed $$bin/polyfork"; \
	case ":$$PATH:" in *":$$bin:"*) ;; *) echo "$$bin is not on PATH; add it with:  export PATH=\"$$bin:\$$PATH\"" ;; esac

## setup: install what the demos and tests need and is missing
setup:
	bash scripts/setup.sh

## demo: the seed's fork demo: an HTTP server forking a Python child per /get-sum
demo: setup
	$(GO) run ./examples/fork-sum -demo -addr 127.0.0.1:0

.PHONY: bench bench-quick soak

## bench-quick: under a minute, 3 short interleaved rounds at 16 B, 1 KiB, 64 KiB and 1 MiB of
## polyfork-{python,php,node}, the bare exchanges bare-{python,php,node}, raw-pipe (the limit),
## the peers (node fork json/advanced, python mp pipe / ProcessPoolExecutor), all pinned to one
## CPU, and the default pool of 2 Python workers (unpinned); prints a summary table (p50, p99,
## calls/s, ratios to the bare exchange and to raw-pipe) and writes bench/out/quick.json
## (needs gcc and taskset; scripts/setup.sh for the rest)
bench-quick:
	cd bench && $(GO) build -o out/bin/benchrun ./cmd/benchrun
	bench/out/bin/benchrun -quick

## bench: every system, 10 rounds, Go micro-benchmarks (~25 min on 2 vCPUs), including the mixed workload
## (a pool of 2 Python workers, 1% of calls sleep 50 ms) and the host cost per call (goroutine
## wake-ups from a runtime trace, host CPU from getrusage; also: bench/out/bin/benchrun hostcost):
## writes bench/out/full.json and regenerates docs/benchmarks.md and docs/benchmarks.png
## (installs matplotlib for the chart)
bench:
	@$(PYTHON) -c 'import matplotlib' 2>/dev/null || $(PYTHON) -m pip install --quiet --disable-pip-version-check matplotlib \
		|| $(PYTHON) -m pip install --quiet --disable-pip-version-check --break-system-packages matplotlib
	cd bench && $(GO) build -o out/bin/benchrun ./cmd/benchrun
	bench/out/bin/benchrun -full -plot-python $(PYTHON)

SOAK_CALLS ?=
SOAK_SHORT ?=
## soak: 1,000,000 calls through serve pools of Python, PHP and Node workers, with kill -9
## every few thousand calls and hostile HTTP clients; checks that every call is accounted
## for and that goroutines, descriptors and RSS come back (about 7 min on 2 CPUs; not in
## make test).
## SOAK_CALLS=N sets the calls, SOAK_SHORT=1 makes a smoke run of 20,000; SOAK_FLAGS adds
## flags (bench/out/bin/soak -h). Writes bench/out/soak.json and the serves' logs.
soak:
	$(GO) build -o bench/out/bin/polyfork ./cmd/polyfork
	cd bench && $(GO) build -o out/bin/soak ./cmd/soak
	bench/out/bin/soak -polyfork bench/out/bin/polyfork $(if $(SOAK_CALLS),-calls $(SOAK_CALLS)) $(if $(SOAK_SHORT),-short) $(SOAK_FLAGS)
