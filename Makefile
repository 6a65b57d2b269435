# policy-host: build, run and test. Everything runs in release mode: a fresh
# sandbox call is ~10x slower in a debug build and Cranelift compiles the
# CPython guest in ~7 s instead of ~90 s.

CARGO      ?= cargo
BIN        := target/release/policy-host
POLICY_OUT ?= build/policies
SOCKET     ?= $(CURDIR)/build/policy-host.sock
SAMPLES    := $(wildcard sample-policies/*)

.PHONY: all toolchain host wasm-python run try test lint fmt clippy clean

all: wasm-python

## toolchain: install the pinned componentize-py into wasm-python/.venv
toolchain:
	wasm-python/install-toolchain.sh

## host: build the policy-host binary (release)
host:
	$(CARGO) build --release --locked

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
	$(CARGO) test --release --locked

## lint: formatting and clippy, as CI checks them
lint: fmt clippy

fmt:
	$(CARGO) fmt --check

clippy:
	$(CARGO) clippy --release --locked --all-targets -- -D warnings

clean:
	rm -rf build target
