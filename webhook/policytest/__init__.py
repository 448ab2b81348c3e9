"""Policy tests as code: YAML suites of cases run through the very Engine every door uses.

`load_suites` validates every suite (exit 2 on any malformed one, naming file and field),
`run_suites` decides each case and compares it with its expectation, and `reporters` renders
the results as text, JSON, JUnit XML or SARIF 2.1.0.
"""

from webhook.policytest.loader import SuiteError, discover, load_suites
from webhook.policytest.runner import CaseResult, SuiteResult, run_suites

__all__ = [
    "CaseResult",
    "SuiteError",
    "SuiteResult",
    "discover",
    "load_suites",
    "run_suites",
]
