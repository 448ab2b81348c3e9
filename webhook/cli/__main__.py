"""`python -m webhook.cli ...`: what the `migration-gate` script runs."""

import sys

from webhook.cli import main

sys.exit(main())
