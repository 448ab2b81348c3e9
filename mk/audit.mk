# Audit store (issue 7). Its tests live in tests/unit/audit (run by `make unit`).
.PHONY: bench-audit audit-test

# Quick look at B8 on this machine: gate appends (1 and 32 threads) vs raw SQLite, same PRAGMAs.
bench-audit: $(STAMP)
	$(BIN)/python -m bench.audit_append --records 2000 --rounds 5

audit-test: $(STAMP)
	$(BIN)/pytest -q tests/unit/audit

# The store's tests on PostgreSQL are their own level: `make postgres` (mk/postgres.mk).
