# policy-host: build, run and test. Everything runs in release mode: a fresh
# sandbox call is ~10x slower in a debug build and Cranelift compiles the
# CPython guest in ~7 s instead of ~90 s.

CARGO      ?= cargo
BIN        := target/release/policy-host

# WASMTIME=patched (default) builds against our patched copies of the
# wasmtime and wasmtime-internal-cranelift crates (patches/,
# docs/upstream-patches.md: fresh instances ~3x cheaper); WASMTIME=stock
# builds against the registry crates unchanged (slower). The two resolve
# those crates differently, so switching rewrites their Cargo.lock entries;
# the committed lock is the patched one.
WASMTIME   ?= patched
ifeq ($(WASMTIME),patched)
PATCHED     := $(CURDIR)/target/patched
CARGO_FLAGS := --config 'patch.crates-io.wasmtime.path="$(PATCHED)/wasmtime-48.0.8"' \
               --config 'patch.crates-io.wasmtime-internal-cranelift.path="$(PATCHED)/wasmtime-internal-cranelift-48.0.8"' \
               --features patched-wasmtime
PREPARE     := patched-wasmtime
else
CARGO_FLAGS :=
PREPARE     :=
endif
POLICY_OUT ?= build/policies
SOCKET     ?= $(CURDIR)/build/policy-host.sock
SAMPLES    := $(wildcard sample-policies/*)

.PHONY: all toolchain patched-wasmtime host wasm-python run try test test-stock test-swap fuzz soak lint fmt clippy bench bench-instructions bench-load bench-reference clean

all: wasm-python

## toolchain: install the pinned componentize-py into wasm-python/.venv
toolchain:
	wasm-python/install-toolchain.sh

## patched-wasmtime: fetch Wasmtime's crate sources and apply patches/ to copies in target/
patched-wasmtime:
	patches/prepare-wasmtime.sh

## host: build the policy-host binary (release)
host: $(PREPARE)
	$(CARGO) build --release $(CARGO_FLAGS)

## wasm-python: build every sample policy into $(POLICY_OUT)/<name>-<version>.wasm
wasm-python: host toolchain
	$(BIN) build $(SAMPLES) --out $(POLICY_OUT)

## run: build everything and serve the sample policies on $(SOCKET)
run: wasm-python
	$(BIN) serve --policies $(POLICY_OUT) --socket $(SOCKET)

## try: one call of the header policy in the sandbox, no server needed
try: wasm-python
	$(BIN) run $(POLICY_OUT)/add-python-header-v1.0.0.wasm --phase on_request \
		--context examples/request-context.json --params examples/header-params.json

## test: the whole test suite (real components in real Wasmtime)
test: host toolchain
	$(CARGO) test --release $(CARGO_FLAGS)

## test-stock: build against unmodified Wasmtime (in target/stock) and run
## the isolation, memory-reset, limits, engine-feature, deadline and
## in-process escape tests on it, so a security update can fall back to
## stock at once. The stock build resolves Wasmtime from the registry, so
## the committed (patched) Cargo.lock is put back afterwards.
## STOCK_TARGET may point outside the checkout (CI keeps it in the cache),
## so that only policy-host itself is rebuilt on the next run.
STOCK_TESTS ?= isolation:: memory_reset:: limits:: engine_features:: sandbox_escape:: deadline_checks::
STOCK_TARGET ?= target/stock
test-stock: toolchain
	mkdir -p target && cp Cargo.lock target/Cargo.lock.patched
	CARGO_TARGET_DIR=$(STOCK_TARGET) $(CARGO) test --release --test all -- $(STOCK_TESTS); \
	  status=$$?; cp target/Cargo.lock.patched Cargo.lock; exit $$status

## test-swap: a dirty page swapped out before its slot's reset is reset too
## (needs root: enables a 64 MiB swap file in target/tmp, removes it after;
## prints SKIPPED and passes where swap cannot be enabled)
test-swap: host toolchain
	$(CARGO) test --release $(CARGO_FLAGS) --test all -- --ignored --nocapture swapped_pages::

## fuzz: the hostile-input properties (tests/all/hostile_inputs.rs) with
## FUZZ_SCALE times their `make test` case counts (default 200x: ~15 min)
FUZZ_SCALE ?= 200
fuzz: host toolchain
	FUZZ_SCALE=$(FUZZ_SCALE) $(CARGO) test --release $(CARGO_FLAGS) --test all hostile_inputs -- --test-threads 2

## soak: the escape suite and stream-abuse tests, SOAK_ROUNDS times over
SOAK_ROUNDS ?= 20
soak: host toolchain
	SOAK_ROUNDS=$(SOAK_ROUNDS) $(CARGO) test --release $(CARGO_FLAGS) --test all -- escape:: stream_abuse

## lint: formatting and clippy, as CI checks them
lint: fmt clippy

fmt:
	$(CARGO) fmt --check

clippy: $(PREPARE)
	$(CARGO) clippy --release --all-targets $(CARGO_FLAGS) -- -D warnings

## bench: in-process benchmark of every sample policy (see BENCHMARKS.md)
bench: wasm-python
	$(BIN) bench inproc

## bench-instructions: instructions per fresh call by phase, under callgrind (needs valgrind)
bench-instructions: wasm-python
	wasm-python/bench-instructions.sh $(BIN) $(POLICY_OUT)

## bench-load: end-to-end load over the Unix socket (starts and stops a server)
bench-load: wasm-python
	wasm-python/bench-load.sh $(BIN) $(POLICY_OUT)

## bench-reference: our server beside a stand-in for the old Python executor, same client
bench-reference: wasm-python
	wasm-python/bench-reference.sh $(BIN) $(POLICY_OUT)

clean:
	rm -rf build target
