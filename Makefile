# The Makefile is the contract: every target does its own set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CDK_STAMP := cdk/node_modules/.installed
EDGE_STAMP := $(VENV)/.edge-installed

.PHONY: help setup demo test test-unit test-integration test-infra test-e2e lint bench eval synth layer clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $@

$(EDGE_STAMP): $(STAMP) edge-uploader/pyproject.toml
	$(PY) -m pip install --quiet -e "./edge-uploader"
	@touch $@

$(CDK_STAMP): cdk/package.json cdk/package-lock.json
	cd cdk && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(STAMP) $(EDGE_STAMP) $(CDK_STAMP)  ## install Python (venv) and CDK CLI (npm) dependencies

demo: $(STAMP) $(EDGE_STAMP)  ## run the whole pipeline locally (no AWS account needed)
	$(PY) -m humwatch.demo

test: setup  ## run every test suite, fastest first
	$(PY) -m pytest -q tests/unit tests/integration tests/infra tests/e2e edge-uploader/tests

test-unit: setup
	$(PY) -m pytest -q tests/unit

lint: setup  ## ruff + mypy
	$(VENV)/bin/ruff check humwatch functions cdk tests benchmarks edge-uploader layers
	$(VENV)/bin/ruff format --check humwatch functions cdk tests benchmarks edge-uploader layers
	$(VENV)/bin/mypy humwatch functions edge-uploader/humwatch_edge cdk layers/build_layers.py benchmarks

bench: setup  ## speed/memory benchmarks (prints numbers, writes benchmarks/results/)
	$(PY) benchmarks/run_all.py

eval: setup  ## detector evaluation suite (synthetic + real data)
	$(PY) -m humwatch evaluate-suite --out benchmarks/results/eval

# The pinned CLI (cdk/package-lock.json) runs from the repo root, where cdk.json is; synth needs no
# AWS credentials or network (no notices, no telemetry). jsii's Node 20 end-of-life banner is silenced.
CDK := cdk/node_modules/.bin/cdk
CDK_ENV := JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 CDK_DISABLE_CLI_TELEMETRY=true

synth: setup  ## cdk synth (offline, no credentials), cdk-nag checks included
	$(CDK_ENV) $(CDK) synth --quiet --no-notices

layer: setup  ## build the Lambda layers without Docker (pip, cached; prints unzipped sizes)
	$(PY) layers/build_layers.py

clean:
	rm -rf $(VENV) cdk/node_modules cdk/cdk.out layers/build .pytest_cache .mypy_cache .ruff_cache
