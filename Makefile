# The single entry point for people and CI.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
STAMP := $(VENV)/.installed
REPO ?= policies
LISTEN ?= 127.0.0.1:50051

.PHONY: setup compile uncompile postgres run test test-pure test-deep fuzz check lint typecheck proto proto-check bench bench-load bench-reload bench-faults bench-state soak clean

setup: $(STAMP)

# The runtime dependencies, then the dev ones (tests, linters, benchmarks, and mypyc, which
# `make compile` uses for `make run` and `make test`).
$(RUNTIME): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: compile
	$(BIN)/python -m authz.devrun --repo $(REPO) --listen $(LISTEN)

# The state-store tests start a throwaway PostgreSQL server (tests/postgres_server.py): its
# binaries come from Debian's `postgresql` package, installed here when missing.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
	  (echo "installing the PostgreSQL server for the tests (Debian package postgresql)" && \
	   apt-get update -qq && apt-get install -y -qq postgresql)

# The decision path compiled with mypyc (authz/native.py; README "Compiled decision path"), the
# default for `make run` and `make test`: an extension beside each listed source, rebuilt only
# when a compiled source changed since the last build (~1 minute on 2 cores). Without a C
# compiler the step says so and the same sources run as Python (also with AUTHZ_PURE_PYTHON=1).
compile: $(STAMP)
	$(BIN)/python -m authz.nativebuild build --if-stale

uncompile:
	rm -f authz/.native-build.json *__mypyc*.so
	find authz -name '*.so' -delete

# Both variants: the whole suite on the compiled modules (AUTHZ_EXPECT_COMPILED=1 checks that
# they are the ones imported), then `test-pure`, the decision vectors and differential tests
# on the same sources as Python. Without a C compiler: the whole suite as Python, once.
test: compile postgres
	AUTHZ_EXPECT_COMPILED=$${AUTHZ_EXPECT_COMPILED:-$$(test -f authz/.native-build.json && echo 1 || echo 0)} \
	  $(BIN)/python -m pytest
	test ! -f authz/.native-build.json || $(MAKE) test-pure

# The decision vectors, the differential tests against the reference evaluator and the build's
# own tests on the pure-Python modules: both variants must decide alike.
test-pure: $(STAMP)
	AUTHZ_PURE_PYTHON=1 $(BIN)/python -m pytest -p no:randomly tests/cases tests/differential \
	  tests/unit/test_native.py

test-deep: $(STAMP)
	HYPOTHESIS_PROFILE=deep $(BIN)/python -m pytest -m "deep or not deep" -p no:randomly tests/differential

# >= 100,000 inputs over every fuzz target (2 processes; see tests/fuzz/run.py); the report goes
# to benchmarks/results/fuzz-<date>.json. FUZZ_ARGS="--differential 10000" for a shorter run.
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz.run --jobs 2 --out benchmarks/results $(FUZZ_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check authz tests benchmarks
	$(BIN)/ruff format --check authz tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy authz

check: lint typecheck proto-check test

proto: $(STAMP)
	$(BIN)/python -m authz.protogen

proto-check: $(STAMP)
	$(BIN)/python -m authz.protogen --check

bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks --benchmark-only -p no:randomly -o testpaths=benchmarks

# The native load client (C on libnghttp2, benchmarks/loadc) installs its headers itself.
LOADC := benchmarks/loadc/loadc
$(LOADC): benchmarks/loadc/loadc.c
	(test -f /usr/include/nghttp2/nghttp2.h && command -v cc >/dev/null) || \
	  (apt-get update -qq && apt-get install -y -qq gcc libc6-dev libnghttp2-dev)
	$(MAKE) -C benchmarks/loadc

bench-load: compile $(LOADC)
	command -v h2load >/dev/null || (apt-get update -qq && apt-get install -y -qq nghttp2-client)
	command -v valgrind >/dev/null || (apt-get update -qq && apt-get install -y -qq valgrind)
	command -v perf >/dev/null || (apt-get update -qq && apt-get install -y -qq linux-perf) || \
	  echo "linux-perf not installed: the CPU-time profile (benchmarks/peer_perf.py) says so"
	$(BIN)/python -m authz.cli bench --scenario all --client native --name native-all --out benchmarks/results
	$(BIN)/python benchmarks/harness/h2load_workers.py --out benchmarks/results
	$(BIN)/python benchmarks/harness/h2load_workers.py --pin-workers --out benchmarks/results
	# authz and the harness in instructions and first-level cache misses per call (callgrind's
	# cache simulation; independent of the machine's load)
	$(BIN)/python benchmarks/peer_instr.py --calls 200 --cache-sim --out benchmarks/results
	# where each side's CPU time goes under the same load (perf sampling; says so when perf
	# is missing or not permitted)
	$(BIN)/python benchmarks/peer_perf.py --rounds 2 --out benchmarks/results
	# the one report (peer-<stamp>.json/.md): authz vs Cerbos vs harness, and the runs above
	$(BIN)/python benchmarks/peer_bench.py --rounds 5 --lock /tmp/authz-quiet.lock --out benchmarks/results \
	  --include "$$(ls -t benchmarks/results/native-all-*.json | head -1)" \
	  --include "$$(ls -t benchmarks/results/peer-instr-*.json | head -1)" \
	  --include "$$(ls -t benchmarks/results/peer-perf-*.json | head -1)" \
	  --include "$$(ls -t benchmarks/results/workers-h2load-2*.json | head -1)" \
	  --include "$$(ls -t benchmarks/results/workers-h2load-pinned-*.json | head -1)"

# Serving under reloads of a 10,000-role repository (benchmarks/soak.py; results in
# benchmarks/results): `soak` runs SOAK_SECONDS (default 600) at 300 req/s with a change every
# 30 s; `bench-reload` compares Authorize p99 during back-to-back reloads with steady serving.
SOAK_SECONDS ?= 600
soak: $(STAMP)
	$(BIN)/python benchmarks/soak.py soak --seconds $(SOAK_SECONDS) --out benchmarks/results

bench-reload: $(STAMP)
	$(BIN)/python benchmarks/soak.py storm --rounds 5 --seconds 10 --out benchmarks/results

# Overload (1x / 4x / 20x the admission limit) and SIGTERM with 50 calls in flight against a
# real server, every outcome matched with the audit log (benchmarks/faults_bench.py).
bench-faults: $(STAMP)
	$(BIN)/python benchmarks/faults_bench.py --out benchmarks/results

# Run-time state (issue 18): AssumeRole and Authorize with SQLite and with PostgreSQL state vs the
# JSON file store of revision 1db3baf (exported with git archive), and three replicas vs one
# under the same client load (benchmarks/state_bench.py; native client, rounds interleaved).
bench-state: $(STAMP) $(LOADC) postgres
	$(BIN)/python benchmarks/state_bench.py --rounds 5 --lock /tmp/authz-quiet.lock --out benchmarks/results

clean: uncompile
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
