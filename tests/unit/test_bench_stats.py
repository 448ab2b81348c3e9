"""The statistics B7 reports: histogram deltas read like Prometheus's histogram_quantile."""

from __future__ import annotations

import math

from bench.cases_k8s import histogram, quantile, share_within
from bench.load import percentile

NAME = "apiserver_admission_webhook_admission_duration_seconds"


def scrape(counts: dict[str, int], webhook: str = "requests.migrationgate.io") -> str:
    """Metrics text as kube-apiserver writes it (cumulative buckets), plus a series to ignore."""
    lines = [f"# HELP {NAME} x", f"# TYPE {NAME} histogram"]
    for le, n in counts.items():
        for name, value in ((webhook, n), ("other.example.io", 1000)):
            lines.append(
                f'{NAME}_bucket{{name="{name}",operation="CREATE",type="validating",le="{le}"}} '
                f"{value}"
            )
    return "\n".join(lines) + "\n"


SEL = {"name": "requests.migrationgate.io", "operation": "CREATE", "type": "validating"}


def test_quantile_interpolates_within_the_bucket_of_the_delta() -> None:
    before = histogram(scrape({"0.005": 10, "0.025": 10, "0.1": 10, "+Inf": 10}), NAME, SEL)
    # 200 new calls: 100 under 5 ms, 50 in (5, 25], 50 in (25, 100]
    after = histogram(scrape({"0.005": 110, "0.025": 160, "0.1": 210, "+Inf": 210}), NAME, SEL)
    assert quantile(before, after, 0.5) == 5.0
    p99 = quantile(before, after, 0.99)
    assert p99 is not None and math.isclose(p99, 25 + 75 * (198 - 150) / 50)
    assert share_within(before, after, 0.025) == 0.75
    assert share_within(before, after, 0.005) == 0.5


def test_no_new_samples_means_no_quantile() -> None:
    same = histogram(scrape({"0.025": 5, "+Inf": 5}), NAME, SEL)
    assert quantile(same, same, 0.99) is None
    assert math.isnan(share_within(same, same, 0.025))


def test_other_webhooks_are_not_counted() -> None:
    text = scrape({"0.025": 3, "+Inf": 4})
    assert histogram(text, NAME, SEL) == {0.025: 3.0, math.inf: 4.0}


def test_percentile_is_nearest_rank() -> None:
    """A reported p99 is a latency that happened, never an interpolation between two."""
    samples = [float(i) for i in range(100, 0, -1)]
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 99) == 99.0
    assert percentile([3.0, 1.0, 2.0], 99) == 3.0
