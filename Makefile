# waybill command vocabulary: every tool (sam, cfn-lint, cargo-lambda, zig, moto) comes from the project's .venv.
#
#   make help            list targets
#   make test            unit + integration tests against moto, then template validation
#   make build           four Lambda bootstraps in target/lambda/<name>/bootstrap
#   make deploy ENV=dev  sam build + sam deploy with infra/samconfig.toml

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

VENV        := .venv
VENV_STAMP  := $(VENV)/.stamp
REQUIREMENTS := infra/requirements.txt
# Interpreter used only to create the venv, looked up on the caller's PATH (not the venv's);
# everything afterwards runs from the venv.
PYTHON      ?= python3
HOST_PATH   := $(PATH)
HOST_PYTHON  = PATH="$(HOST_PATH)" $(PYTHON)

TEMPLATE    := infra/template.yaml
SAMCONFIG   := infra/samconfig.toml
ENV         ?= dev
FUNCTIONS   := salesforce-webhook wms-webhook inventory-poll shipment-writeback
# inventory-poll is built on its own: built with the others, cargo would unify waybill's `sqs` feature
# into it and link an SQS client it never calls (SAM builds each function on its own too).
SQS_FUNCTIONS := salesforce-webhook wms-webhook shipment-writeback

# The venv's bin first, so `cargo lambda` resolves to the pip-installed cargo-lambda, and
# cargo-lambda finds zig as `python3 -m ziglang` through the venv's python3 (never a system zig).
export PATH := $(CURDIR)/$(VENV)/bin:$(HOST_PATH)
# Integration tests and the local stack start this moto server binary.
export WAYBILL_MOTO_BIN ?= $(CURDIR)/tests/moto/moto_server
# The machine may be offline: keep SAM from phoning home.
export SAM_CLI_TELEMETRY := 0

# `sam validate --lint` needs no AWS access; plain `sam validate` needs a region. Pin a region and
# dummy credentials anyway so validation can never pick up (or use) a real profile.
OFFLINE_AWS := env -u AWS_PROFILE AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=dummy AWS_SECRET_ACCESS_KEY=dummy

# AL2023 ships glibc 2.34 and this host has a newer one, so a plain `cargo build` could link
# symbols Lambda lacks; cargo-lambda links through zig against an older glibc instead (the
# binaries need at most GLIBC_2.30). The target matches what SAM's rust-cargolambda builder
# passes for provided.al2023, so `make build` and `make sam-build` share compiled dependencies.
# arm64 is cheaper: once `rustup target add aarch64-unknown-linux-gnu` works, build with
# LAMBDA_TARGET=aarch64-unknown-linux-gnu and set Architectures: [arm64] in the template.
LAMBDA_TARGET ?= x86_64-unknown-linux-gnu

LOCAL_ARGS := $(if $(ORDERS),--orders $(ORDERS))

.PHONY: help venv setup fmt fmt-check lint test prod-deps validate run chaos serve build bench-init cost sam-build deploy invoke watch

help: ## List targets
	@echo "Usage: make <target> [ENV=dev|prod] [FN=<function> EVENT=<name>] [ORDERS=<n>]"
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-10s %s\n", $$1, $$2}'

venv: $(VENV_STAMP) ## Create .venv and install infra/requirements.txt (only when missing or changed)
	@:

# The stamp is newer than the requirements file once they are installed, so reruns are instant.
# Without ensurepip (e.g. Debian without python3-venv) fall back to the host pip's --python.
$(VENV_STAMP): $(REQUIREMENTS)
	@if [ ! -x $(VENV)/bin/python ]; then \
	  echo "creating $(VENV)"; \
	  $(HOST_PYTHON) -m venv $(VENV) 2>/dev/null || { \
	    rm -rf $(VENV); \
	    $(HOST_PYTHON) -m venv --without-pip $(VENV); \
	    $(HOST_PYTHON) -m pip --python $(VENV)/bin/python install --disable-pip-version-check -q pip; }; \
	fi
	@echo "installing $(REQUIREMENTS) into $(VENV)"
	$(VENV)/bin/pip install --disable-pip-version-check -q -r $(REQUIREMENTS)
	@touch $@

setup: venv ## Show the toolchain in use (cargo, cargo-lambda, zig, sam, cfn-lint)
	@cargo --version
	@cargo lambda --version
	@cargo lambda system
	@sam --version
	@cfn-lint --version

fmt: ## Format all crates
	cargo fmt --all

fmt-check: ## Fail if any crate is not formatted
	cargo fmt --all -- --check

lint: ## Clippy on every target, warnings are errors
	cargo clippy --workspace --all-targets -- -D warnings

validate: venv ## cfn-lint and sam validate --lint on the SAM template
	$(VENV)/bin/cfn-lint $(TEMPLATE)
	$(OFFLINE_AWS) $(VENV)/bin/sam validate --lint --template-file $(TEMPLATE)

test: venv ## Template validation, then all workspace tests (moto from the venv)
	@$(MAKE) --no-print-directory validate
	@$(MAKE) --no-print-directory prod-deps
	cargo test --workspace --all-targets

prod-deps: ## Fail if a Lambda package's production dependency graph enables waybill's test support
	@if cargo tree $(addprefix -p ,$(FUNCTIONS)) -e normal,build -f '{p} [{f}]' | grep -E 'waybill v[^ ]+ \(.*\) \[.*testing'; then \
	  echo "a function links waybill's test support (feature 'testing') in production"; exit 1; \
	else echo "production graph: waybill without test support"; fi

run: venv ## Local stack: run the scenario once (ORDERS=n optional)
	cargo run -p waybill-e2e --bin waybill-local -- run --visibility-timeout-override $(or $(RETRY_AFTER),2) $(LOCAL_ARGS)

chaos: venv ## Local stack through a storm of faults (ORDERS=2000 SEED=1 by default), reconciled from the vendors
	cargo run -p waybill-e2e --bin waybill-local -- chaos --orders $(or $(ORDERS),2000) --seed $(or $(SEED),1)

serve: venv ## Local stack: keep it up on fixed ports for manual use
	cargo run -p waybill-e2e --bin waybill-local -- serve

build: venv ## cargo lambda build: target/lambda/<function>/bootstrap for the four functions
	cargo lambda build --release --target $(LAMBDA_TARGET) $(addprefix -p ,$(SQS_FUNCTIONS))
	cargo lambda build --release --target $(LAMBDA_TARGET) -p inventory-poll

bench-init: venv ## Cold starts: the release bootstraps vs a bare lambda_runtime echo, STARTS=20 each (init, init+first, RSS)
	$(MAKE) build
	cargo lambda build --release --target $(LAMBDA_TARGET) -p bench-echo
	cargo run --profile harness -p waybill-e2e --bin waybill-local -- bench-init --starts $(or $(STARTS),20)

cost: venv ## Dollars per million orders from a counted local run (ORDERS=100 arriving RATE=2 per second, RATE=0 a burst; PER_MONTH=1000000 spreads idle polling), priced with infra/prices.json
	cargo run -p waybill-e2e --bin waybill-local -- cost --orders $(or $(ORDERS),100) --rate $(or $(RATE),2) --orders-per-month $(or $(PER_MONTH),1000000) $(if $(VERBOSE),--verbose)

sam-build: venv ## sam build (rust-cargolambda) into .aws-sam/build, ENV=dev|prod
	sam build --config-file $(SAMCONFIG) --config-env $(ENV)

deploy: sam-build ## sam deploy the built template, ENV=dev|prod (prod asks to confirm the change set)
	sam deploy --config-file $(SAMCONFIG) --config-env $(ENV)

invoke: venv ## Invoke a function under `make watch`: FN=<function> EVENT=<file in events/FN/, no .json>
	@[ -n "$(FN)" ] && [ -n "$(EVENT)" ] || { echo "usage: make invoke FN=<function> EVENT=<event>"; exit 2; }
	cargo lambda invoke $(FN) --data-file events/$(FN)/$(EVENT).json

watch: venv ## Emulate the Lambda control plane, rebuilding on change
	cargo lambda watch
