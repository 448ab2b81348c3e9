"""`python -m webhook.cli ...`: what the `migration-gate` script runs."""

import sys

from webhook.cli import main

if __name__ == "__main__":  # importing this module (e.g. walking the package) runs nothing
    sys.exit(main())
