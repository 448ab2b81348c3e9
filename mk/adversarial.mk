# adversarial level: property tests (hypothesis), a bounded fuzz run (atheris) and schemathesis
# against the served OpenAPI document (tests/property, tests/fuzz, tests/schema; docs/testing.md).
#
# `make adversarial`  fixed budgets and seeds (hypothesis derandomised, libFuzzer -seed=1,
#                     schemathesis 25 examples per operation): reproducible, a few minutes.
#                     Never skips; pytest's "no tests collected" (exit 5) is a failure.
# `make fuzz`         the longer hunt: each atheris target FUZZ_SECONDS with a fresh seed (printed
#                     by libFuzzer as "INFO: Seed:"), its corpus kept under $(FUZZ_DIR), then the
#                     coverage of each target's modules, then hypothesis and schemathesis with
#                     larger budgets. Crashes land in $(FUZZ_DIR) as crash-*; replay one with
#                     `python -m tests.fuzz.run TARGET FILE`, then commit it under
#                     tests/fuzz/regressions/TARGET/.

FUZZ_SECONDS ?= 300
FUZZ_DIR ?= $(CACHE)/fuzz
FUZZ_TARGETS := loaders tar multipart dsse

.PHONY: adversarial fuzz

adversarial: $(STAMP)
	@set -o pipefail; rc=0; \
	  $(BIN)/pytest -q -p no:cacheprovider tests/property tests/fuzz tests/schema || rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "adversarial: no tests ran (pytest exit 5)" >&2; exit 1; fi; \
	  exit $$rc

fuzz: $(STAMP)
	@set -euo pipefail; mkdir -p $(FUZZ_DIR); \
	  for t in $(FUZZ_TARGETS); do mkdir -p $(FUZZ_DIR)/$$t; echo "==> fuzz $$t ($(FUZZ_SECONDS) s)"; \
	    PYTHONPATH=$(CURDIR) $(BIN)/python -m tests.fuzz.run $$t -max_total_time=$(FUZZ_SECONDS) \
	      -max_len=65536 -timeout=20 -rss_limit_mb=2048 -artifact_prefix=$(FUZZ_DIR)/$$t- \
	      -print_final_stats=1 $(FUZZ_DIR)/$$t tests/fuzz/corpus/$$t; done; \
	  PYTHONPATH=$(CURDIR) $(BIN)/python -m tests.fuzz.cover $(FUZZ_DIR); \
	  HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q -p no:cacheprovider tests/property; \
	  MG_SCHEMA_EXAMPLES=200 $(BIN)/pytest -q -p no:cacheprovider tests/schema

TEST_LEVELS += adversarial
