"""Data contracts: pydantic models and strict parsing of untrusted JSON/YAML bytes.

Lowest layer: imports nothing else from `webhook` except `errors`; no I/O beyond the bytes handed in.
"""
