# The UI level: Playwright drives Debian's chromium against a real `migration-gate serve`,
# axe-core checks every page and a screenshot of it is taken (into the cache; `make
# ui-screenshots` refreshes the committed ones in docs/ui/). tools/ui/install.sh installs
# chromium (apt-get) and axe-core (npm, into ~/.cache/migration-gate/ui) idempotently.
# With CI=true (or MG_UI_REQUIRED=1) a missing tool FAILS the level; it never skips there.
.PHONY: ui ui-install ui-screenshots
TEST_LEVELS += ui

ui-install:
	@tools/ui/install.sh

ui: $(STAMP)
	@if ! tools/ui/install.sh; then \
	  if [ "$${CI:-}" = "true" ] || [ "$${MG_UI_REQUIRED:-}" = "1" ]; then \
	    echo "make ui: the UI tools could not be installed (CI: failing, not skipping)" >&2; exit 1; \
	  fi; \
	  echo "make ui: the UI tools could not be installed; the UI tests will skip" >&2; \
	fi
	$(BIN)/pytest -q -p no:cacheprovider tests/ui

# Refresh docs/ui/*.png (the README's screenshots) from the same browser tests.
ui-screenshots: $(STAMP)
	@tools/ui/install.sh
	MG_UI_SHOTS=$(CURDIR)/docs/ui MG_UI_REQUIRED=1 $(BIN)/pytest -q -p no:cacheprovider tests/ui
