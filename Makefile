# migration-gate: `make run` starts the gate with embedded defaults, `make test` runs every test level.
# Both bootstrap a local .venv on first use; nothing is installed outside the repo and
# ~/.cache/migration-gate.

SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CACHE ?= $(HOME)/.cache/migration-gate
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test install lint typecheck unit integration clean
.DEFAULT_GOAL := help

help:
	@echo "make run    start the gate with embedded dev defaults (state in .state/)"
	@echo "make test   install and run every test level (lint, types, unit, integration, k8s-static, e2e, adversarial)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24"
	$(BIN)/pip install -q -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# Dev defaults: trusts the examples' TEST key and lets admission hash snapshots under examples/,
# so the README's curl examples work as shown. Never use these keys for real.
run: $(STAMP)
	$(BIN)/migration-gate serve --state-dir .state --trust-dir examples/t1_good/trust \
	  --snapshot-root examples

lint: $(STAMP)
	$(BIN)/ruff check webhook tests bench
	$(BIN)/ruff format --check webhook
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/pytest -q tests/integration

# Each area adds its own targets and hooks its test level into TEST_LEVELS.
TEST_LEVELS := lint typecheck unit integration
-include mk/*.mk

test: $(STAMP)
	@set -e; for level in $(TEST_LEVELS); do \
	  echo "==> make $$level"; $(MAKE) --no-print-directory $$level; done

clean:
	rm -rf $(VENV) .state .mypy_cache .ruff_cache .pytest_cache
