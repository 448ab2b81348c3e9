"""The operator web UI: server-rendered pages on the API listener under /ui/ (no JavaScript).

Every page goes through the same Gate, Authorizer tokens, upload path and audit store as the
API; see docs/ui.md for sessions, roles and the security headers.
"""

from webhook.ui.context import UI_PREFIX
from webhook.ui.routes import build_ui_routes

__all__ = ["UI_PREFIX", "build_ui_routes"]
