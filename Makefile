# The Makefile is the contract: every target does its own set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CDK_STAMP := cdk/node_modules/.installed
EDGE_STAMP := $(VENV)/.edge-installed
# The template scanners live in their own venv: checkov pins an old boto3 (pyproject.toml, `scan` group).
SCAN_VENV := .venv-scan
SCAN_STAMP := $(SCAN_VENV)/.installed

.PHONY: help setup mosquitto demo test test-unit test-integration test-infra test-e2e lint bench bench-fleet eval synth scan layer clean

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

# The local stack's MQTT broker is the real mosquitto (there is no built-in one). As root on a machine
# with apt-get, make installs it; anywhere else it stops and says how.
FIND_MOSQUITTO := $(PY) -c "from humwatch.local.mqtt_broker import find_mosquitto; find_mosquitto()"

mosquitto: $(STAMP)  ## make sure the mosquitto broker is installed (apt-get as root, else say how)
	@if $(FIND_MOSQUITTO) 2>/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "mosquitto is not installed: installing it with apt-get"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends mosquitto >/dev/null \
			&& $(FIND_MOSQUITTO) && exit 0; \
		echo "error: apt-get could not install mosquitto (see above)" >&2; exit 1; \
	fi; \
	echo "error: the local stack needs the mosquitto MQTT broker, and make cannot install it here" >&2; \
	echo "(that needs root and apt-get). Install it, then run make again:" >&2; \
	echo "  Debian/Ubuntu  sudo apt-get install -y mosquitto" >&2; \
	echo "  macOS          brew install mosquitto" >&2; \
	echo "  Windows        the installer from https://mosquitto.org/download/" >&2; \
	echo "or set HUMWATCH_MOSQUITTO to the mosquitto binary's path." >&2; \
	exit 1

demo: $(STAMP) $(EDGE_STAMP) mosquitto  ## run the whole pipeline locally (no AWS account needed)
	$(PY) -m humwatch.demo

test: setup mosquitto  ## the template scan, then every test suite, fastest first
	@$(MAKE) --no-print-directory scan
	$(PY) -m pytest -q tests/unit tests/integration tests/infra tests/e2e tests/browser edge-uploader/tests

test-unit: setup
	$(PY) -m pytest -q tests/unit

lint: setup  ## ruff + mypy
	$(VENV)/bin/ruff check humwatch functions cdk tests benchmarks edge-uploader layers
	$(VENV)/bin/ruff format --check humwatch functions cdk tests benchmarks edge-uploader layers
	$(VENV)/bin/mypy humwatch functions edge-uploader/humwatch_edge cdk layers/build_layers.py benchmarks

bench: setup  ## speed/memory benchmarks (prints numbers, writes benchmarks/results/)
	$(PY) benchmarks/run_all.py

# Not part of `make bench`: it runs for over ten minutes. FLEET_ARGS="--devices 5 --minutes 1" for a smoke run.
bench-fleet: $(STAMP) $(EDGE_STAMP) mosquitto  ## fleet load test with faults: 50 devices, 10 min (benchmarks/fleet_load.py)
	$(PY) benchmarks/fleet_load.py $(FLEET_ARGS)

eval: setup  ## detector evaluation suite (synthetic + real data)
	$(PY) -m humwatch evaluate-suite --out benchmarks/results/eval

# The pinned CLI (cdk/package-lock.json) runs from the repo root, where cdk.json is; synth needs no
# AWS credentials or network (no notices, no telemetry). jsii's Node 20 end-of-life banner is silenced.
CDK := cdk/node_modules/.bin/cdk
CDK_ENV := JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 CDK_DISABLE_CLI_TELEMETRY=true

synth: setup  ## cdk synth (offline, no credentials), cdk-nag checks included
	$(CDK_ENV) $(CDK) synth --quiet --no-notices

$(SCAN_STAMP): pyproject.toml
	@test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SCAN_VENV)/bin/python -m pip install --quiet --group scan
	@touch $@

# Findings are fixed or listed with a reason in cdk/scan-exceptions.yaml; anything else fails.
scan: synth $(SCAN_STAMP)  ## cfn-lint + checkov over the synthesized template (exceptions: cdk/scan-exceptions.yaml)
	$(PY) cdk/scan_template.py cdk/cdk.out --exceptions cdk/scan-exceptions.yaml --tools $(SCAN_VENV)/bin

layer: setup  ## build the Lambda layers without Docker (pip, cached; prints unzipped sizes)
	$(PY) layers/build_layers.py

clean:
	rm -rf $(VENV) $(SCAN_VENV) cdk/node_modules cdk/cdk.out layers/build .pytest_cache .mypy_cache .ruff_cache
