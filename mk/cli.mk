# CLI (issue 16): shell completion is tested in real shells. Its tests live in tests/unit/cli
# (run by `make unit`); the `cli` level re-runs the completion tests with zsh installed and
# required, so a missing zsh fails instead of skipping.
.PHONY: cli cli-shells cli-startup

cli-shells:
	@command -v bash >/dev/null && command -v zsh >/dev/null || { \
	  echo "==> installing zsh (completion tests)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q zsh >/dev/null; }

cli: $(STAMP) cli-shells
	MG_ZSH_REQUIRED=1 $(BIN)/pytest -q -p no:cacheprovider tests/unit/cli/test_cli_completion.py

# B11: start-up time of `--version` and `validate migration examples/t1_good`, this tree against
# another checkout (BASE=DIR, e.g. a `git worktree` of the last release), interleaved rounds.
cli-startup: $(STAMP)
	$(BIN)/python tools/cli_startup.py --base $(or $(BASE),$(CURDIR)) --rounds $(or $(ROUNDS),10)

TEST_LEVELS += cli
