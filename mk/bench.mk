# Benchmarks (issues 6, 17): ratios against baselines measured in the same run. Not a test level:
# benchmarks never gate `make test`, and no test asserts a wall-clock figure.
.PHONY: bench bench-quick bench-tools bench-peers bench-stages

bench-tools: $(STAMP)
	@bash bench/bin/install-tools.sh
	$(BIN)/pip install -q -e ".[dev,bench]"

# The peer policy CLIs of B10 (conftest, gator, kyverno) from pinned Go modules; minutes, once.
# A peer that cannot be built is reported by B10, not fatal here.
bench-peers:
	-@bash tools/peers/build.sh

# Full run (about half an hour on 2 cores): rewrites BENCHMARKS.md and bench/results.json.
bench: $(STAMP) bench-tools bench-peers
	$(BIN)/python -m bench.run

# Reduced run (about 2 minutes): every row with a target, 3 rounds; prints the table and exits 0
# only if every target is met in most rounds.
bench-quick: $(STAMP) bench-tools
	$(BIN)/python -m bench.run --quick

# Where the microseconds of one distinct decision go, this tree vs BEFORE (a source tree).
bench-stages: $(STAMP)
	$(BIN)/python -m bench.stages $(if $(BEFORE),--before $(BEFORE))
