"""The dashboards show the app's data: the Flask example under `obs run` (gunicorn, two workers), with steady
traffic that includes failing requests, failing database queries and failing outgoing calls, sends its
metrics over OTLP/HTTP into VictoriaMetrics and its spans and logs to an OTLP receiver. Every PromQL query of
every generated dashboard is evaluated there and returns data; every LogQL and TraceQL query selects records
among what the agent really sent.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from obs.agent.settings import load_settings
from obs.dashboards import Query, queries, render

from examples import shop, traffic
from examples.launch import APPS, ROOT, free_port, wait_until_answers
from tests.agent_run import stop_process_group
from tests.grafana_vars import substitute
from tests.otlp_match import logql_fields, logql_select, traceql_select
from tests.otlp_receiver import LogRecord, OTLPReceiver, Span
from tests.promql import PromQL, start_promql

SERVICE = f"shop-{uuid.uuid4().hex[:8]}"
"""Unique per run: a PromQL engine named by PROMQL_URL may hold earlier runs' series."""
ENVIRONMENT = "e2e"
VALUES = {
    "service": SERVICE,
    "environment": ENVIRONMENT,
    "instance": ".*",
    "search": "",
    "min_duration": "0ms",
    "exception_type": ".+",
}


@dataclass(frozen=True)
class Run:
    """What one run of the app left behind: the engine holding its metrics, its spans and its log records."""

    engine: PromQL
    spans: list[Span]
    logs: list[LogRecord]
    dashboards: dict[str, dict[str, Any]]




class _Upstream(BaseHTTPRequestHandler):
    """The stock service, failing one call in three with a 503: outgoing calls fail all along the run."""

    calls = itertools.count()

    def do_GET(self) -> None:
        status = 503 if next(self.calls) % 3 == 0 else 200
        body = json.dumps({"item_id": 1, "in_stock": 3}).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def _load(url: str, stop: threading.Event) -> None:
    """Steady traffic (the example's mix: reads, 404s, 500s, outgoing calls) until ``stop``, 3 min at most."""
    deadline = time.monotonic() + 180
    while not stop.is_set() and time.monotonic() < deadline:
        traffic.send(url, 10)
        stop.wait(0.2)


def _break_database(database: Path, stop: threading.Event) -> None:
    """Rename a column away for 0.7 s of every 2 s: the shop's queries fail now and then, as in life.

    A column, not the table: a gunicorn worker that boots meanwhile would create the table afresh.
    """
    renames = ("price_cents TO price_cents_away", "price_cents_away TO price_cents")
    while not stop.is_set():
        for rename, pause in zip(renames, (0.7, 1.3), strict=True):
            with sqlite3.connect(database, timeout=5) as connection:
                connection.execute(f"ALTER TABLE items RENAME COLUMN {rename}")
            stop.wait(pause)


def _ready(engine: PromQL, found: list[Query]) -> bool:
    """Every panel query has data, and the error ratios have seen failures."""
    for query in found:
        if query.panel.startswith("$"):
            continue
        series = engine.query(substitute(query.text, VALUES))
        if not series or ("Error" in query.panel and not any(float(item["value"][1]) > 0 for item in series)):
            return False
    return True


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    workdir = tmp_path_factory.mktemp("dashboards-e2e")
    settings = load_settings({"service_name": SERVICE, "environment": ENVIRONMENT}, environ={}, cwd=workdir)
    dashboards = {
        Path(path).stem: json.loads(text) for path, text in render(settings).items() if path.endswith(".json")
    }
    promql = _of(dashboards, "promql")
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    stop = threading.Event()
    with start_promql(workdir) as engine, OTLPReceiver() as receiver:
        port = free_port()
        environment = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "OTEL_SERVICE_NAME": SERVICE,
            "OBS_ENVIRONMENT": ENVIRONMENT,
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": engine.otlp_url,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{receiver.endpoint}/v1/traces",
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": f"{receiver.endpoint}/v1/logs",
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            shop.DB_ENV: str(workdir / "shop.sqlite3"),
            shop.UPSTREAM_ENV: f"http://127.0.0.1:{upstream.server_address[1]}",
        }
        command = [sys.executable, "-m", "obs", "run", "--", *APPS["flask"].command(port, workers=2)]
        log = (workdir / "app.log").open("wb")
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        workers = [
            threading.Thread(target=_load, args=(f"http://127.0.0.1:{port}", stop), daemon=True),
            threading.Thread(target=_break_database, args=(workdir / "shop.sqlite3", stop), daemon=True),
        ]
        try:
            wait_until_answers(f"http://127.0.0.1:{port}/get", process)
            for worker in workers:
                worker.start()
            deadline = time.monotonic() + 60
            while not _ready(engine, promql) and time.monotonic() < deadline:
                time.sleep(1)
            receiver.wait_for(lambda: any(record.severity_number >= 17 for record in receiver.logs()))
            yield Run(engine, receiver.spans(), receiver.logs(), dashboards)
        finally:
            stop.set()
            for worker in workers:
                if worker.is_alive():
                    worker.join(timeout=30)
            stop_process_group(process, timeout=20)
            log.close()
            upstream.shutdown()
            upstream.server_close()


def _of(dashboards: dict[str, dict[str, Any]], language: str) -> list[Query]:
    """Every query in ``language`` of the dashboards."""
    return [
        query for document in dashboards.values() for query in queries(document) if query.language == language
    ]


def _finite(series: list[dict[str, Any]]) -> bool:
    samples = [item["value"] for item in series if "value" in item]
    samples += [point for item in series for point in item.get("values", [])]
    return any(math.isfinite(float(value)) for _, value in samples)


def test_every_promql_panel_query_returns_data(run: Run) -> None:
    """Each panel query, run as Grafana runs it (instant or range), returns at least one finite sample."""
    empty = []
    for query in _of(run.dashboards, "promql"):
        if query.panel.startswith("$"):
            continue
        expr = substitute(query.text, VALUES)
        series = run.engine.query(expr) if query.instant else run.engine.query_range(expr, seconds=120)
        if not _finite(series):
            empty.append(str(query))
    assert len(_of(run.dashboards, "promql")) > 30
    assert not empty, "no data for:\n" + "\n".join(empty)


def test_error_queries_see_the_failures(run: Run) -> None:
    """The error ratios are above zero: failed requests, database operations and outgoing calls all count."""
    for document in ("overview", "dependencies"):
        for query in queries(run.dashboards[document]):
            if query.language == "promql" and "Error" in query.panel:
                values = [
                    float(item["value"][1]) for item in run.engine.query(substitute(query.text, VALUES))
                ]
                assert values and max(values) > 0, query


def test_template_variables_find_the_app(run: Run) -> None:
    """$service, $environment and $instance list this app, its environment and each gunicorn worker."""
    variables = {query.panel: query.text for query in queries(run.dashboards["overview"])}
    services = run.engine.label_values("service_name")
    assert variables["$service"] == "label_values(service_name)" and SERVICE in services
    selector, name = variables["$environment"].removeprefix("label_values(").removesuffix(")").split(", ")
    assert run.engine.label_values(name, substitute(selector, VALUES)) == [ENVIRONMENT]
    selector, name = variables["$instance"].removeprefix("label_values(").rsplit(", ", 1)
    instances = set(run.engine.label_values(name.removesuffix(")"), substitute(selector, VALUES)))
    workers = {span.resource["service.instance.id"] for span in run.spans if span.kind == 2}
    assert instances >= workers and len(workers) >= 1


def test_logql_queries_select_the_app_logs(run: Run) -> None:
    """Each LogQL query selects lines the agent sent; errors carry trace ids; volume has a real grouping."""
    mine = [record for record in run.logs if record.resource.get("service.name") == SERVICE]
    assert mine
    for query in _of(run.dashboards, "logql"):
        selected = logql_select(substitute(query.text, VALUES), mine)
        assert selected, query
        if query.panel == "Latest errors":
            assert all(record.severity_number >= 17 for record in selected)
            assert any(record.trace_id for record in selected)
        if query.text.startswith("sum by (severity_text)"):
            assert {logql_fields(record)["severity_text"] for record in selected} >= {"INFO", "ERROR"}


def test_traceql_queries_select_the_app_spans(run: Run) -> None:
    """Each TraceQL query selects spans the agent sent: server spans as slowest, error spans as failed."""
    for query in _of(run.dashboards, "traceql"):
        selected = traceql_select(substitute(query.text, VALUES), run.spans)
        assert selected, query
        if "status = error" in query.text:
            assert {span.attributes.get("http.route") for span in selected} >= {"/fail"}
