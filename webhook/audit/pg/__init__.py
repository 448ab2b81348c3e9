"""The PostgreSQL backend of the audit store: one chain shared by any number of gate replicas.

psycopg 3 is imported only here, and only when a `postgresql://` target is opened. Modules:
`schema` (DDL, idempotent migration, the writer role's grants), `conn` (connection settings,
error text), `writer` (group commit under a transaction-scoped advisory lock), `alerts`,
`read` (streaming reads for verify/export), `store` (the `AuditStore` for PostgreSQL).
"""
