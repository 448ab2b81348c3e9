# migration-gate: `make run` starts the gate with embedded defaults, `make test` runs every test level.
# Both bootstrap a local .venv on first use; nothing is installed outside the repo and
# ~/.cache/migration-gate.

SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
CACHE ?= $(HOME)/.cache/migration-gate
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help run test install lint typecheck unit integration clean
.DEFAULT_GOAL := help

help:
	@echo "migration-gate: the targets the README and docs use"
	@echo "  make run          start the gate with embedded dev defaults (state in .state/); installs only"
	@echo "                    what the gate needs to run"
	@echo "  make test         install the dev tools and run every test level, in this order:"
	@echo "                    $(TEST_LEVELS)"
	@echo "  make install      install the gate and its dev/test tools into .venv (make test does this)"
	@echo "  make lint | typecheck | unit | integration | adversarial | k8s-static | e2e | ...  one level"
	@echo "  make fuzz         the longer fuzzing hunt (not part of make test)"
	@echo "  make manifests    re-render manifests/ from the Helm chart"
	@echo "  make kind-e2e     the e2e tests against a kind cluster (needs Docker)"
	@echo "  make bench | bench-quick  benchmarks (BENCHMARKS.md); never part of make test"
	@echo "  make clean        remove .venv and local state"

# Runtime only (make run): the gate and its own dependencies, nothing for tests.
$(RUN_STAMP): pyproject.toml
	@test -x $(BIN)/python || { echo "==> creating $(VENV) with $(PY)"; $(PY) -m venv $(VENV); }
	@echo "==> installing migration-gate and its runtime dependencies into $(VENV) (first run only)"
	@$(BIN)/pip install -q --upgrade "pip>=24"
	@$(BIN)/pip install --progress-bar on -e . | grep -Ev '^(Requirement already satisfied|  )' || true
	@$(BIN)/python -c "import webhook.cli" && touch $(RUN_STAMP)

# Everything make test needs: the gate plus the dev and test tools.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { echo "==> creating $(VENV) with $(PY)"; $(PY) -m venv $(VENV); }
	@echo "==> installing migration-gate with its dev and test tools into $(VENV)"
	@$(BIN)/pip install -q --upgrade "pip>=24"
	@$(BIN)/pip install -q -e ".[dev]"
	@touch $(STAMP) $(RUN_STAMP)

install: $(STAMP)

# Dev defaults: trusts the examples' TEST key and lets admission hash snapshots under examples/,
# so the README's curl examples work as shown. Never use these keys for real.
run: $(RUN_STAMP)
	$(BIN)/migration-gate serve --state-dir .state --trust-dir examples/t1_good/trust \
	  --snapshot-root examples

lint: $(STAMP)
	$(BIN)/ruff check webhook tests bench
	$(BIN)/ruff format --check webhook
	$(BIN)/lint-imports
	$(BIN)/vulture webhook tools/vulture/allowlist.py --min-confidence 60

typecheck: $(STAMP)
	$(BIN)/mypy

# The unit level also holds the coverage floor: line+branch coverage of webhook/ must stay at
# or above [tool.coverage.report] fail_under in pyproject.toml (raised, never lowered).
COVERAGE_FLOOR = $(BIN)/python -c "import tomllib; \
  print(tomllib.load(open('pyproject.toml', 'rb'))['tool']['coverage']['report']['fail_under'])"

unit: $(STAMP)
	$(BIN)/coverage run -m pytest -q tests/unit
	@floor=$$($(COVERAGE_FLOOR)); total=$$($(BIN)/coverage report --format=total) || { \
	  echo "==> COVERAGE FLOOR BROKEN: webhook/ is at $$total% (line+branch, unit level), below"; \
	  echo "    the floor of $$floor% ([tool.coverage.report] fail_under in pyproject.toml)."; \
	  echo "    Test the new code (.venv/bin/coverage report -m --skip-covered shows what is not"; \
	  echo "    run); never lower the floor."; exit 1; }; \
	echo "==> coverage of webhook/ (line+branch, unit level): $$total% (floor $$floor%)"

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
