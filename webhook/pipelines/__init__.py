"""The decision engine: migration (T1) and replication (T2) pipelines -> Decision.

Rule: pure. No I/O beyond reading the inputs it is handed (bytes, and snapshot/WAL files named
by the caller); never imports a door or the audit store. It never raises: every failure is a
BLOCK reason, so a caller cannot ALLOW by forgetting an except clause.
"""

from webhook.pipelines.engine import Engine
from webhook.pipelines.inputs import MigrationInputs, ReplicationInputs

__all__ = ["Engine", "MigrationInputs", "ReplicationInputs"]
