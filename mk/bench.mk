# Benchmarks (issue 6): ratios against baselines measured in the same run. Not a test level:
# benchmarks never gate `make test`, and no test asserts a wall-clock figure.
.PHONY: bench bench-quick bench-tools

bench-tools: $(STAMP)
	@bash bench/bin/install-tools.sh
	$(BIN)/pip install -q -e ".[dev,bench]"

# Full run (a few minutes): rewrites BENCHMARKS.md and bench/results.json.
bench: $(STAMP) bench-tools
	$(BIN)/python -m bench.run

# Reduced run (< 60 s): prints the same table; exits 0 only if every target is met.
bench-quick: $(STAMP) bench-tools
	$(BIN)/python -m bench.run --quick
