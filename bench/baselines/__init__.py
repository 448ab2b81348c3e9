"""Baseline servers: the least a Starlette+uvicorn endpoint can do for the same request."""
