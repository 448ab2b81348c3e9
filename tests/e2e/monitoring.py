"""A real Prometheus and Alertmanager on loopback, scraping the gate and loading the chart's rules.

Why real ones: promtool's rule tests prove the expressions on synthetic series; this proves the
whole path a user relies on: the gate's /metrics as scraped, the chart's rule groups as rendered
(`helm template`, never a copy), Prometheus evaluating them, Alertmanager routing by severity
and a webhook receiver getting the labels and annotations the runbook documents.

Binaries: Debian's `prometheus` and `prometheus-alertmanager` (tools/monitoring/install.sh; paths
in MG_PROMETHEUS / MG_ALERTMANAGER). Each runs with its own temp config and data dir, on free
loopback ports, Alertmanager with clustering off (no 0.0.0.0:9094 listener).
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests.k8s import render

from .procs import Process, free_port
from .service import ThreadedServer

START_TIMEOUT = 60.0
MAX_NOTIFICATION = 1024 * 1024
#: Prometheus scrapes and evaluates every second here (the chart's ServiceMonitor says 30s)
INTERVAL = "1s"
#: `monitoring.window` for the rendered rules: the increase() window, and so how long a block
#: alert stays firing after the last block (the chart default is 5m)
WINDOW = "15s"
#: the labels the chart's ServiceMonitor gives the gate's series (job = fullname, namespace)
JOB = render.RELEASE
NAMESPACE = render.NAMESPACE
POD = "migration-gate-e2e"


@dataclass(frozen=True, slots=True)
class MonitoringBinaries:
    prometheus: Path
    alertmanager: Path


def resolve_monitoring() -> tuple[MonitoringBinaries | None, str]:
    found: dict[str, Path] = {}
    for var, default in (
        ("MG_PROMETHEUS", "/usr/bin/prometheus"),
        ("MG_ALERTMANAGER", "/usr/bin/prometheus-alertmanager"),
    ):
        path = Path(os.environ.get(var) or default)
        if not (path.is_file() and os.access(path, os.X_OK)):
            return None, f"{var}: no executable {path}; run tools/monitoring/install.sh"
        found[var] = path
    return MonitoringBinaries(found["MG_PROMETHEUS"], found["MG_ALERTMANAGER"]), ""


def chart_rule_groups(helm: Path) -> list[dict[str, Any]]:
    """The PrometheusRule's `spec.groups`, rendered from the chart with `monitoring.window`."""
    docs = render.documents(
        render.template(
            helm,
            sets=(f"monitoring.window={WINDOW}",),
            api_versions=(render.MONITORING_API,),
            show_only=("templates/prometheusrule.yaml",),
        )
    )
    rules = [d for d in docs if d["kind"] == "PrometheusRule"]
    if len(rules) != 1:
        raise AssertionError(f"expected one PrometheusRule in the render, got {len(rules)}")
    return list(rules[0]["spec"]["groups"])


# ---- the webhook receiver ----------------------------------------------------------------------
@dataclass
class Notification:
    path: str
    body: dict[str, Any]


@dataclass
class _Inbox:
    lock: threading.Lock = field(default_factory=threading.Lock)
    items: list[Notification] = field(default_factory=list)


class Receiver(ThreadedServer):
    """Alertmanager's webhook receiver: records every POST body (JSON) with the path it hit."""

    def __init__(self) -> None:
        self.port = free_port()
        inbox = self._inbox = _Inbox()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 < length <= MAX_NOTIFICATION:
                    self.send_response(413)
                    self.end_headers()
                    return
                body = json.loads(self.rfile.read(length))
                with inbox.lock:
                    inbox.items.append(Notification(self.path, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        super().__init__(ThreadingHTTPServer(("127.0.0.1", self.port), Handler), "e2e-am-receiver")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def notifications(self) -> list[Notification]:
        with self._inbox.lock:
            return list(self._inbox.items)


# ---- Prometheus and Alertmanager ---------------------------------------------------------------
def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except urllib.error.HTTPError as exc:
        exc.close()
        return False


def alertmanager_config(receiver: Receiver) -> dict[str, Any]:
    """Critical alerts to the paging receiver, everything else to the ticket one; resolved too."""

    def webhook(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "webhook_configs": [{"url": receiver.url(f"/{name}"), "send_resolved": True}],
        }

    return {
        "route": {
            "receiver": "ticket",
            "group_by": ["alertname", "namespace", "scenario", "check"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
            "routes": [{"receiver": "page", "matchers": ['severity="critical"']}],
        },
        "receivers": [webhook("ticket"), webhook("page")],
    }


class Monitoring:
    """Prometheus (scraping the gate's metrics port, the chart's rules) + Alertmanager."""

    def __init__(
        self,
        binaries: MonitoringBinaries,
        workdir: Path,
        gate_metrics_port: int,
        groups: list[dict[str, Any]],
        receiver: Receiver,
    ) -> None:
        self.workdir = workdir
        self.am_port, self.prom_port = free_port(), free_port()
        am_dir, prom_dir = workdir / "alertmanager", workdir / "prometheus"
        for d in (am_dir / "data", prom_dir / "data"):
            d.mkdir(parents=True, exist_ok=True)
        (am_dir / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager_config(receiver)))
        (prom_dir / "rules.yml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        prom_config = {
            "global": {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL},
            "rule_files": [str(prom_dir / "rules.yml")],
            "alerting": {
                "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{self.am_port}"]}]}]
            },
            "scrape_configs": [
                {
                    "job_name": JOB,
                    "static_configs": [
                        {
                            "targets": [f"127.0.0.1:{gate_metrics_port}"],
                            "labels": {"namespace": NAMESPACE, "pod": POD},
                        }
                    ],
                }
            ],
        }
        (prom_dir / "prometheus.yml").write_text(yaml.safe_dump(prom_config, sort_keys=False))
        self._alertmanager = Process(
            "alertmanager",
            [
                str(binaries.alertmanager),
                f"--config.file={am_dir / 'alertmanager.yml'}",
                f"--storage.path={am_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.am_port}",
                "--cluster.listen-address=",
                "--log.level=info",
            ],
            workdir / "logs" / "alertmanager.log",
        )
        self._prometheus = Process(
            "prometheus",
            [
                str(binaries.prometheus),
                f"--config.file={prom_dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={prom_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.prom_port}",
                "--log.level=info",
            ],
            workdir / "logs" / "prometheus.log",
        )

    def start(self) -> None:
        try:
            self._alertmanager.start()
            self._alertmanager.wait_until(
                lambda: _ready(f"http://127.0.0.1:{self.am_port}/-/ready"),
                "/-/ready",
                timeout=START_TIMEOUT,
            )
            self._prometheus.start()
            self._prometheus.wait_until(
                lambda: _ready(f"{self.prometheus_url}/-/ready"), "/-/ready", timeout=START_TIMEOUT
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self._prometheus.stop()
        self._alertmanager.stop()

    def check_alive(self) -> None:
        self._prometheus.check_alive()
        self._alertmanager.check_alive()

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prom_port}"

    def api(self, path: str, **params: str) -> Any:
        """A Prometheus HTTP API call's `data` (raises on status != success)."""
        self.check_alive()
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        doc = _get_json(f"{self.prometheus_url}/api/v1/{path}{query}")
        if doc.get("status") != "success":
            raise AssertionError(f"prometheus /api/v1/{path}: {doc}")
        return doc["data"]

    def alerts(self) -> list[dict[str, Any]]:
        """Prometheus' active alerts (pending and firing)."""
        return list(self.api("alerts")["alerts"])

    def scraped_up(self) -> bool:
        result = self.api("query", query=f'up{{job="{JOB}", namespace="{NAMESPACE}"}}')["result"]
        return bool(result) and all(r["value"][1] == "1" for r in result)
