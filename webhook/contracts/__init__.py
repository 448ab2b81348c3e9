"""Data contracts: pydantic models and strict parsing of untrusted JSON and YAML bytes.

Lowest layer: imports nothing from `webhook` but `errors`; no I/O beyond the bytes handed in.
"""
