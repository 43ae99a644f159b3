# lambda-mesh — the two commands a newcomer needs are `make demo` and `make test`.
# Tools the tests drive (cargo-lambda, sam, cfn-lint, cargo-zigbuild, aws-lambda-web-adapter) live in
# ./.venv and ./.tools; `make deps` installs them (.ci/run calls it on a fresh machine).

SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(CURDIR)/.tools/bin:$(PATH)
CARGO ?= cargo
LWA_VERSION := 1.0.0-rc1

.PHONY: test fmt-check clippy build cargo-test lint-template deps deps-python deps-lwa demo bench layer doc

## test: everything CI checks
test: fmt-check clippy build lint-template cargo-test

fmt-check:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# The end-to-end tests run the workspace's binaries (emulator, extension, mesh-proxy) as processes.
build:
	$(CARGO) build --workspace --bins --locked

cargo-test: build
	$(CARGO) test --workspace --locked

doc:
	RUSTDOCFLAGS=-Dwarnings $(CARGO) doc --workspace --no-deps --locked

lint-template:
	@if [ -f template.yaml ]; then cfn-lint template.yaml && sam validate --lint --template-file template.yaml; fi

## deps: the tools the tests drive, installed locally (no root needed for these)
deps: deps-python deps-lwa

deps-python:
	test -x .venv/bin/python || python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q cargo-lambda aws-sam-cli cfn-lint cargo-zigbuild ziglang

deps-lwa:
	test -x .tools/bin/lambda-adapter || $(CARGO) install --locked --root .tools lambda_web_adapter --version $(LWA_VERSION)

bench:
	$(CARGO) bench --workspace
