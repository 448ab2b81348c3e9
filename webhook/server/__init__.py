"""The network doors: admission webhook, operator API, metrics/health; TLS and auth around them.

Rule: transport only. Every verdict comes from the engine (`webhook.pipelines`); this package
turns HTTP into engine inputs and decisions into HTTP, audits them, and counts them. Settings are
passed in (`ServerSettings`); nothing is read from the environment at import time.
"""
