"""A real Prometheus beside the embedded stack: its configuration, its command, its HTTP API.

The configuration scrapes every service (one job per service, named after it) and loads the alert
rules of observability/prometheus/rules, with short intervals so alerts can be seen firing in a
test: `preflight stack up --with-prometheus` runs it as part of the stack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

RULES_DIR = Path(__file__).resolve().parent.parent / "observability" / "prometheus" / "rules"
SCRAPE_INTERVAL_S = 2
EVALUATION_INTERVAL_S = 2


def configuration(
    services: Mapping[str, str],
    *,
    rule_files: Sequence[Path] | None = None,
    scrape_interval_s: int = SCRAPE_INTERVAL_S,
    evaluation_interval_s: int = EVALUATION_INTERVAL_S,
) -> dict[str, Any]:
    rules = sorted(RULES_DIR.glob("*.yml")) if rule_files is None else list(rule_files)
    return {
        "global": {
            "scrape_interval": f"{scrape_interval_s}s",
            "scrape_timeout": f"{scrape_interval_s}s",
            "evaluation_interval": f"{evaluation_interval_s}s",
        },
        "rule_files": [str(path) for path in rules],
        "scrape_configs": [
            {
                "job_name": name,
                "metrics_path": "/metrics",
                "scheme": urlsplit(url).scheme or "http",
                "static_configs": [{"targets": [urlsplit(url).netloc]}],
            }
            for name, url in sorted(services.items())
        ],
    }


def write_configuration(path: Path, services: Mapping[str, str]) -> Path:
    path.write_text(yaml.safe_dump(configuration(services), sort_keys=False))
    return path


def command(binary: str, config: Path, data_dir: Path, host: str, port: int) -> list[str]:
    return [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address={host}:{port}",
        "--storage.tsdb.retention.time=1d",
        "--web.enable-lifecycle",
        "--log.level=warn",
    ]


@dataclass(frozen=True)
class PrometheusApi:
    url: str
    timeout: float = 5.0

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=self.timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def targets(self) -> list[dict[str, Any]]:
        """The active scrape targets with their job, health and last error."""
        active: list[dict[str, Any]] = self._get("/api/v1/targets", state="active")["activeTargets"]
        return active

    def alerts(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._get("/api/v1/alerts")["alerts"]
        return found

    def firing(self, name: str) -> list[dict[str, Any]]:
        return [
            a
            for a in self.alerts()
            if a["labels"].get("alertname") == name and a["state"] == "firing"
        ]

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get("/api/v1/query", query=expr)["result"]
        return result

    def query_range(
        self, expr: str, start: float, end: float, step_s: float = SCRAPE_INTERVAL_S
    ) -> list[dict[str, Any]]:
        """A range query's series: each {"metric": labels, "values": [[t, "v"], ...]}."""
        result: list[dict[str, Any]] = self._get(
            "/api/v1/query_range",
            query=expr,
            start=f"{start:.3f}",
            end=f"{end:.3f}",
            step=f"{step_s:g}s",
        )["result"]
        return result

    def _get(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, timeout=self.timeout)
        response.raise_for_status()
        body = response.json()
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus {path}: {body.get('error', body)}")
        return body["data"]
