"""Writing artifact folders for users: `init` (a complete starting folder) and `pin`.

Door-side file writing for the CLI; the engine never imports this package.
"""
