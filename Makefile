# lambda-mesh — the two commands a newcomer needs are `make demo` and `make test`.
# Tools the tests drive (cargo-lambda, sam, cfn-lint, cargo-zigbuild, aws-lambda-web-adapter) live in
# ./.venv and ./.tools; `make deps` installs them (.ci/run calls it on a fresh machine).

SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(CURDIR)/.tools/bin:$(PATH)
CARGO ?= cargo
LWA_VERSION := 1.0.0-rc1

.PHONY: test fmt-check clippy build examples cargo-test lint-template deps deps-python deps-lwa demo bench fuzz layer doc

## test: everything CI checks (the layer build runs objdump's glibc check on the real release binary)
test: fmt-check clippy doc build examples lint-template cargo-test layer

fmt-check:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) clippy -p lambda-mesh-extension --all-targets --features br,zstd --locked -- -D warnings

# The end-to-end tests run the workspace's binaries (emulator, extension, mesh-proxy) as processes.
build:
	$(CARGO) build --workspace --bins --locked

# The brotli and zstd codecs are off in the shipped layer; their end-to-end test needs the extension
# binary built with them. It runs first: the workspace run after it relinks the default-feature
# binary (gzip only, as shipped) that every other test runs.
cargo-test: build
	$(CARGO) test --locked -p lambda-mesh-extension --features br,zstd --test compression_codecs
	$(CARGO) test --workspace --locked

# The template's Rust function is its own workspace (sam build builds it alone): check it still builds.
examples:
	$(CARGO) clippy --locked --manifest-path examples/rust-axum/Cargo.toml -- -D warnings

doc:
	RUSTDOCFLAGS=-Dwarnings $(CARGO) doc --workspace --no-deps --locked

lint-template:
	@if [ -f template.yaml ]; then cfn-lint template.yaml && sam validate --lint --template-file template.yaml; fi

## deps: the tools the tests drive, installed locally (no root needed for these)
deps: deps-python deps-lwa

deps-python:
	test -x .venv/bin/python || python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q cargo-lambda aws-sam-cli cfn-lint cargo-zigbuild ziglang pyhcl 'moto[server]'

deps-lwa:
	test -x .tools/bin/lambda-adapter || $(CARGO) install --locked --root .tools lambda_web_adapter --version $(LWA_VERSION)

bench:
	$(CARGO) bench --workspace

## fuzz: each cargo-fuzz target in fuzz/ for FUZZ_SECONDS, seeded from our own fixtures by
## fuzz/seed.py; not part of `make test`. RUSTC_BOOTSTRAP=1 lets stable rustc take cargo-fuzz's
## -Z flags. A crash ends that target's run with its input in fuzz/artifacts/<target>/; the others
## still run, and `make fuzz` fails at the end naming the targets that crashed.
FUZZ_SECONDS ?= 45
FUZZ_TARGETS := event result json config
FUZZ_FLAGS ?= --sanitizer address
fuzz:
	command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	python3 fuzz/seed.py
	@crashed=""; for target in $(FUZZ_TARGETS); do \
		echo "fuzz: $$target for $(FUZZ_SECONDS) s"; \
		RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $(FUZZ_FLAGS) $$target -- \
			-max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 || crashed="$$crashed $$target"; \
	done; \
	if [ -n "$$crashed" ]; then echo "fuzz: crashed:$$crashed (inputs in fuzz/artifacts/)"; exit 1; fi

## demo: mesh-proxy on 127.0.0.1:2345 serving examples/hello-python behind the extension layer in the
## embedded emulator (examples/demo.toml). The layer is `make layer`'s when cargo-zigbuild is there
## (`make deps`), else the same files assembled from the debug build of the extension.
DEMO_LAYER := target/demo-layer
DEMO_BIN_DIR = $(or $(CARGO_TARGET_DIR),target)/debug
demo: build
	@if command -v cargo-zigbuild >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory layer && rm -rf $(DEMO_LAYER) && cp -r target/layer $(DEMO_LAYER); \
	else \
		echo "demo: cargo-zigbuild not found (make deps installs it): layer assembled from the debug extension build"; \
		rm -rf $(DEMO_LAYER) && mkdir -p $(DEMO_LAYER)/extensions && \
		install -m 0755 $(DEMO_BIN_DIR)/lambda-mesh-extension $(DEMO_LAYER)/extensions/lambda-mesh && \
		install -m 0755 extension/layer/bootstrap $(DEMO_LAYER)/bootstrap; \
	fi
	$(DEMO_BIN_DIR)/mesh-proxy --check --config examples/demo.toml
	@echo
	@echo "  mesh-proxy is starting (Ctrl-C stops it). In another terminal, paste:"
	@echo
	@echo "    curl -i 'http://127.0.0.1:2345/hello?name=mesh'"
	@echo
	$(DEMO_BIN_DIR)/mesh-proxy --config examples/demo.toml

## layer: the extension layer in target/layer/ and target/lambda-mesh-layer.zip. Built with
## cargo-zigbuild against glibc 2.17 so it runs on Amazon Linux; checked with objdump -T.
## (arm64 needs `rustup target add aarch64-unknown-linux-gnu` and LAYER_ARCH=aarch64.)
LAYER_ARCH ?= x86_64
LAYER_TRIPLE := $(LAYER_ARCH)-unknown-linux-gnu
LAYER_GLIBC := 2.17
LAYER_BIN = $(or $(CARGO_TARGET_DIR),target)/$(LAYER_TRIPLE)/layer/lambda-mesh-extension
layer:
	cargo-zigbuild zigbuild --profile layer --locked -p lambda-mesh-extension --bin lambda-mesh-extension --target $(LAYER_TRIPLE).$(LAYER_GLIBC)
	rm -rf target/layer target/lambda-mesh-layer.zip
	mkdir -p target/layer/extensions
	install -m 0755 $(LAYER_BIN) target/layer/extensions/lambda-mesh
	install -m 0755 extension/layer/bootstrap target/layer/bootstrap
	extension/layer/check-glibc.sh target/layer/extensions/lambda-mesh $(LAYER_GLIBC)
	cd target/layer && python3 -m zipfile -c ../lambda-mesh-layer.zip extensions bootstrap
	@ls -l target/layer/extensions/lambda-mesh target/lambda-mesh-layer.zip

## build-LambdaMeshLayer: what `sam build` runs for template.yaml's LambdaMeshLayer (BuildMethod: makefile)
build-LambdaMeshLayer: layer
	mkdir -p "$(ARTIFACTS_DIR)/extensions"
	install -m 0755 target/layer/extensions/lambda-mesh "$(ARTIFACTS_DIR)/extensions/lambda-mesh"
	install -m 0755 target/layer/bootstrap "$(ARTIFACTS_DIR)/bootstrap"
