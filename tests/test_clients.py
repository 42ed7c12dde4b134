"""Outgoing calls under `obs run`: HTTP clients (requests, httpx sync and async, urllib3, aiohttp) against a
local server, and Redis (sync and asyncio) against a real one. Each call is one client span (requests over
urllib3 is not two), and each library feeds the catalog's metric: ``http.client.request.duration`` with the
server and status, ``db.client.operation.duration`` with ``db.system.name="redis"`` and the command.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.otlp_receiver import MetricPoint, OTLPReceiver, Span
from tests.servers import Redis

CLIENT = 3

SCRIPT = """
import asyncio, os, sys
base = os.environ["BASE"]

import requests, httpx, urllib3, aiohttp, redis, redis.asyncio

requests.get(f"{base}/requests").raise_for_status()
requests.get(f"{base}/missing")
httpx.get(f"{base}/httpx-sync").raise_for_status()
urllib3.PoolManager().request("GET", f"{base}/urllib3")

async def clients():
    async with httpx.AsyncClient() as client:
        (await client.get(f"{base}/httpx-async")).raise_for_status()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/aiohttp") as answer:
            answer.raise_for_status()
    cache = redis.asyncio.Redis.from_url(os.environ["REDIS_URL"])
    await cache.set("async-key", "v")
    await cache.get("async-key")
    await cache.aclose()

asyncio.run(clients())

cache = redis.Redis.from_url(os.environ["REDIS_URL"])
cache.set("key", "value")
cache.get("key")
cache.pipeline().set("a", 1).get("a").execute()
try:
    cache.lpush("key", "not a list")
except redis.ResponseError as error:
    print("failed:", type(error).__name__)
print("done")
"""


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 404 if self.path == "/missing" else 200
        body = b"{}"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@dataclass(frozen=True)
class Run:
    spans: list[Span]
    points: list[MetricPoint]

    def latest(self, name: str) -> list[MetricPoint]:
        newest: dict[tuple[object, ...], MetricPoint] = {}
        for point in self.points:
            if point.name == name:
                newest[(point.scope, tuple(sorted(point.attributes.items())))] = point
        return list(newest.values())


@pytest.fixture(scope="module")
def run(redis: Redis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    folder: Path = tmp_path_factory.mktemp("clients")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    script = folder / "calls.py"
    script.write_text(textwrap.dedent(SCRIPT), encoding="utf-8")
    with OTLPReceiver() as receiver:
        result = subprocess.run(
            [sys.executable, "-m", "obs", "run", "--", sys.executable, str(script)],
            env={**os.environ, "BASE": f"http://127.0.0.1:{server.server_address[1]}",
                 "REDIS_URL": redis.url(), "OTEL_SERVICE_NAME": "clients",
                 "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                 "OTEL_TRACES_SAMPLER": "always_on"},  # more than 10 root spans a second: keep them all
            cwd=folder, capture_output=True, text=True, timeout=60, check=False,
        )
        server.shutdown()
        assert result.returncode == 0 and "done" in result.stdout, result.stderr
        yield Run(receiver.spans(), receiver.metric_points())


def test_each_http_call_is_one_client_span_of_its_library(run: Run) -> None:
    """One client span per call, from the library the code called: requests' calls are not doubled by the
    urllib3 under it."""
    http = [span for span in run.spans if span.kind == CLIENT and "http.request.method" in span.attributes]
    by_scope: dict[str, int] = {}
    for span in http:
        by_scope[span.scope.rsplit(".", 1)[-1]] = by_scope.get(span.scope.rsplit(".", 1)[-1], 0) + 1
    assert by_scope == {"requests": 2, "httpx": 2, "urllib3": 1, "aiohttp_client": 1}


def test_http_client_duration_by_server_and_status(run: Run) -> None:
    """``http.client.request.duration`` (seconds) counts every call with the server and the status code."""
    points = run.latest("http.client.request.duration")
    assert sum(point.count for point in points) == 6
    assert {point.attributes["server.address"] for point in points} == {"127.0.0.1"}
    statuses = sorted(
        point.attributes["http.response.status_code"] for point in points for _ in range(point.count)
    )
    assert statuses == [200, 200, 200, 200, 200, 404]
    assert {point.unit for point in points} == {"s"}


def test_redis_commands_are_spans_and_database_operations(run: Run) -> None:
    """Redis commands (sync and asyncio) are client spans and ``db.client.operation.duration`` points with
    ``db.system.name="redis"``, the command as the operation, and the error type of a failed one."""
    spans = [span for span in run.spans if "redis" in span.scope]
    assert {span.name for span in spans} >= {"SET", "GET", "LPUSH"}
    assert [span.status_code for span in spans if span.name == "LPUSH"] == [2]
    points = [point for point in run.latest("db.client.operation.duration")
              if point.attributes.get("db.system.name") == "redis"]
    counted = {(point.attributes["db.operation.name"], point.attributes.get("error.type")): point.count
               for point in points}
    assert counted == {
        ("SET", None): 2, ("GET", None): 2, ("PIPELINE", None): 1, ("LPUSH", "ResponseError"): 1
    }
    assert {point.attributes["server.address"] for point in points} == {"127.0.0.1"}
