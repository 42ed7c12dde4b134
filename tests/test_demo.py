"""`make demo` end to end: the Flask example under `obs run` with no collector, traffic, then `obs view`."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.launch import ROOT


def _demo(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "OBS_"))}
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--dir", str(tmp_path / "telemetry"), *extra],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@contextlib.contextmanager
def _something_on_4318() -> Iterator[None]:
    """A listener on the default OTLP/HTTP port (or whatever already listens there)."""
    listener = socket.socket()
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):  # taken already: then something answers anyway
            listener.bind(("127.0.0.1", 4318))
            listener.listen(16)
        yield
    finally:
        listener.close()


def test_demo_shows_routes_failed_traces_and_logs_with_trace_ids(tmp_path: Path) -> None:
    """On a machine with no collector, the demo runs the app under `obs run` (gunicorn, 2 workers), which
    writes OTLP-JSON files; `obs view` then lists the templated routes with their counts, a failed trace
    with its exception, and log lines (loguru and stdlib) carrying the trace id of the request that wrote
    them."""
    out = _demo(tmp_path, "--requests", "30").stdout
    written = {path.name for path in (tmp_path / "telemetry").glob("*.jsonl")}
    assert written == {"traces.jsonl", "metrics.jsonl", "logs.jsonl"}
    routes = {match.group(1): int(match.group(2))
              for match in re.finditer(r"^  (GET \S+)\s+(\d+)\s", out, flags=re.MULTILINE)}
    # 30 requests: three rounds of the traffic mix, counted over both workers by the duration histogram
    assert routes["GET /items/<int:item_id>"] == 12  # 3 x (items 1, 2, 5 and the unknown 999)
    assert routes["GET /get"] == 6 + 1  # and the demo's readiness probe
    assert routes["GET /fail"] == 3
    assert routes["GET /items/<int:item_id>/stock"] == 6
    assert "Failed traces  (3 of 3)" in out
    assert "RuntimeError: simulated failure: this route always fails" in out
    assert "├─ SELECT" in out or "`- SELECT" in out  # a database span under a request
    logs = out.split("Recent logs", 1)[1]
    assert re.search(r"[0-9a-f]{32}  item \d viewed  item_id=\d", logs)  # loguru, with bind() extra
    assert re.search(r"[0-9a-f]{32}  stock of item \d: \d+", logs)  # stdlib logging


@pytest.mark.serial  # every agent with no endpoint set would see this listener
def test_demo_forces_files_when_something_answers_on_4318(tmp_path: Path) -> None:
    """With a listener on localhost:4318 the agent would export there; the demo sets the file exporters
    instead, says so, and the view still shows the requests."""
    with _something_on_4318():
        out = _demo(tmp_path, "--requests", "10").stdout
    assert "setting OTEL_{TRACES,METRICS,LOGS}_EXPORTER=file" in out
    assert re.search(r"^  GET /fail\s+1\s", out, flags=re.MULTILINE)
