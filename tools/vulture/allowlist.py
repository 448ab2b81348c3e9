"""Names vulture reports as unused in webhook/ that are used, by something vulture cannot see.

Run: `vulture webhook tools/vulture/allowlist.py --min-confidence 60` (part of `make lint`).
Each entry says who uses it. A name used only by tests is not listed here: remove it or use it.
"""

# ruff: noqa
# Never imported or run: vulture only reads the names. `_.name` marks an attribute or method.

# pydantic: the class-level configuration every model reads
model_config

# pydantic @field_validator / @model_validator methods: called by pydantic, never by name
_._safe_where  # contracts/decision.py: Reason.where redaction
_._safe_message  # contracts/decision.py: Reason.message redaction
_._safe_detail  # contracts/decision.py: detail redaction
_._safe_subject  # contracts/decision.py: Decision.subject redaction
_._has_a_utc_time  # audit/models.py: query time bounds
_._consistent  # policytest/model.py: a case's expectations agree
_._has_inputs  # policytest/model.py: a case names its inputs

# pydantic fields of the input contracts: parsed and validated (extra="forbid"), read by policies
# through the raw document, so no attribute access shows
min_version  # contracts/models.py: tls.min_version
run_as_root  # contracts/models.py: security.run_as_root
run_as_user  # contracts/models.py: security.run_as_user
privileged  # contracts/models.py: security.privileged
capabilities  # contracts/models.py: security.capabilities
secrets_ref  # contracts/models.py: secrets_ref
source_db  # contracts/models.py: T2 manifest / replication request
target_db  # contracts/models.py: T2 manifest / replication request
expected_snapshot_hash  # contracts/models.py: T2 manifest
sync_mode  # contracts/models.py: T2 manifest / replication request
type_  # contracts/models.py: in-toto statement `_type` (alias)
predicateType  # contracts/models.py: in-toto statement field

# Kubernetes AdmissionReview fields (server/admission_types.py): the wire shape, validated
operation
namespace
oldObject
dryRun
userInfo
apiVersion

# policy check functions: registered by decorator and called through the registry by id
signature_required  # policies/checks/integrity.py
weak_hash_forbidden  # policies/checks/integrity.py
no_public_bind  # policies/checks/network.py
no_privileged  # policies/checks/privileges.py
no_root  # policies/checks/privileges.py
no_added_caps  # policies/checks/privileges.py
secrets_ref_required  # policies/checks/secrets.py
no_inline_secrets  # policies/checks/secrets.py
tls_required  # policies/checks/tls.py
tls_min_version  # policies/checks/tls.py

# overrides and attributes read by the frameworks
_.capture_signals  # server/run.py: uvicorn.Server hook; `serve` handles signals once for all
_.force_exit  # server/run.py: uvicorn.Server attribute, read by its shutdown loop
_._should_upgrade_to_ws  # server/connections.py: uvicorn H11Protocol override (no websockets)
_.send_400_response  # server/connections.py: uvicorn H11Protocol override (our refusal body)
_.disconnected  # server/connections.py: uvicorn RequestResponseCycle flag, read by receive()
_.redirect_slashes  # server/app.py: Starlette Router setting (no redirects on the doors)
_.get_timestamp  # ui/sessions.py: itsdangerous TimestampSigner override (injectable clock)
_.mtime  # scaffold/init.py: tarfile.TarInfo field, written into the archive
server_name  # server/tls.py: ssl sni_callback signature
max_length  # integrity/archive/inflate.py: zlib Decompress protocol signature
_.isolation_level  # audit/pg/read.py: psycopg connection setting
_.read_only  # audit/pg/read.py: psycopg connection setting
_.itersize  # audit/pg/read.py: psycopg server-side cursor setting

_.connect_kwargs  # audit/target.py: called as target.connect_kwargs() by audit/pg/conn.py

# The registry's inverse of register(): bench/cel_cost.py registers its generated checks and
# takes them back out (as do test fixtures), so one process can measure several bundles
_.unregister  # policies/registry.py
