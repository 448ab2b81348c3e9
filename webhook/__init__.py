"""migration-gate: a fail-closed ALLOW/BLOCK gate for migrations (T1) and replications (T2).

Layers, lowest first (enforced by `.importlinter`): contracts <- integrity, policies <- pipelines
<- server, cli. `audit` sits beside the engine and never imports a door.
"""

__version__ = "0.1.0"
