"""A real PromQL engine for the dashboard tests: VictoriaMetrics on a loopback port, fed over OTLP/HTTP.

VictoriaMetrics ingests OTLP metrics at ``/opentelemetry/v1/metrics`` and, with
``-opentelemetry.usePrometheusNaming``, names series and labels the way Prometheus' OTLP receiver does
(``http_server_request_duration_seconds_bucket``, ``http_route``), so the dashboards' PromQL is evaluated
against the names a user's Prometheus would hold. ``-search.latencyOffset=0s`` makes samples queryable as
soon as they arrive (the default hides the last 30 s).

``PROMQL_URL`` points the tests at an engine of one's own instead (then nothing is started); its OTLP ingest
URL is ``PROMQL_OTLP_URL``, or ``PROMQL_URL`` + ``/opentelemetry/v1/metrics`` (VictoriaMetrics' path).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.tools import promql_url, victoria_metrics

__all__ = ["PromQL", "PromQLError", "start_promql"]

OTLP_PATH = "/opentelemetry/v1/metrics"


class PromQLError(AssertionError):
    """The engine rejected a query (a syntax error, an unknown function)."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class PromQL:
    """The Prometheus HTTP API of a running engine, and where it takes OTLP metrics."""

    url: str
    otlp_url: str

    def _get(self, path: str, params: list[tuple[str, str]]) -> Any:
        address = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(address, timeout=30) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            raise PromQLError(
                f"{path} {params}: HTTP {error.code}: {error.read().decode(errors='replace')}"
            ) from None
        if body.get("status") != "success":
            raise PromQLError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query at the current time: its series (for a scalar, one entry with ``value``)."""
        data = self._get("/api/v1/query", [("query", expr), ("time", f"{time.time():.3f}")])
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def query_range(self, expr: str, seconds: float, step: str = "5s") -> list[dict[str, Any]]:
        """A range query over the last ``seconds``, as a graph panel runs it."""
        now = time.time()
        params = [("query", expr), ("start", f"{now - seconds:.3f}"), ("end", f"{now:.3f}"), ("step", step)]
        result: list[dict[str, Any]] = self._get("/api/v1/query_range", params)["result"]
        return result

    def label_values(self, label: str, match: str | None = None) -> list[str]:
        """Values of ``label`` (on series matching ``match``), as Grafana's ``label_values()`` asks."""
        params = [("match[]", match)] if match else []
        params.append(("start", f"{time.time() - 3600:.3f}"))
        values: list[str] = self._get(f"/api/v1/label/{urllib.parse.quote(label)}/values", params)
        return values

    def wait_for(self, expr: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Poll until ``expr`` returns data; the last (empty) answer after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if result or time.monotonic() > deadline:
                return result
            time.sleep(0.25)


def _ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"victoria-metrics exited with {process.returncode}: {log.read_text()[-2000:]}"
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"victoria-metrics did not answer on {url} within 30 s: {log.read_text()[-2000:]}")


@contextmanager
def start_promql(workdir: Path) -> Iterator[PromQL]:
    """A PromQL engine for one test module: ``PROMQL_URL``'s, or a VictoriaMetrics of its own."""
    external = promql_url()
    if external:
        yield PromQL(external, os.environ.get("PROMQL_OTLP_URL", "").strip() or external + OTLP_PATH)
        return
    binary = victoria_metrics()
    url = f"http://127.0.0.1:{_free_port()}"
    log = workdir / "victoria-metrics.log"
    command = [
        binary,
        f"-httpListenAddr={url.removeprefix('http://')}",
        f"-storageDataPath={workdir / 'vm-data'}",
        "-retentionPeriod=1d",
        "-opentelemetry.usePrometheusNaming",
        "-search.latencyOffset=0s",
        "-search.disableCache",
        "-loggerLevel=ERROR",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        _ready(url, process, log)
        yield PromQL(url, url + OTLP_PATH)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
