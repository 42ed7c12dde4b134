"""The Dependencies and Tasks dashboards show data for an app on PostgreSQL, Redis, an HTTP upstream and
Celery: a producer (SQLAlchemy engine made at import time over psycopg 3, redis-py, requests, task enqueues)
and a Celery worker (prefork, two processes) run under `obs run` and send their metrics over OTLP/HTTP into
VictoriaMetrics. Every PromQL query of both generated dashboards returns data there, and the error and
failure panels see the failures the workload makes.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from obs.agent.settings import load_settings
from obs.dashboards import Query, queries, render

from examples.launch import ROOT
from tests.agent_run import stop_process_group
from tests.grafana_vars import substitute
from tests.promql import PromQL, start_promql
from tests.servers import PostgreSQL, Redis

SERVICE = f"deps-{uuid.uuid4().hex[:8]}"
VALUES = {"service": SERVICE, "environment": "e2e", "instance": ".*", "search": "", "min_duration": "0ms"}
INSTRUMENTATIONS = ["celery", "psycopg", "redis", "requests"]
"""What `obs init` chooses for such a project (tests/test_detect.py): the dashboards are rendered for it."""

WORKLOAD = """
import os, time
import redis, requests
from sqlalchemy import create_engine, text
from examples import tasks

engine = create_engine(os.environ["DB_URL"])  # at import time, before any request: the usual case
cache = redis.Redis.from_url(os.environ["EXAMPLES_BROKER_URL"])
with engine.begin() as connection:
    connection.execute(text("CREATE TABLE IF NOT EXISTS orders (id serial primary key, cents int)"))
deadline = time.monotonic() + 150
round = 0
while not os.path.exists("stop") and time.monotonic() < deadline:
    round += 1
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO orders (cents) VALUES (:cents)"), {"cents": round})
        connection.execute(text("SELECT count(*) FROM orders")).scalar()
    if round % 3 == 0:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT missing FROM orders"))
        except Exception:
            pass
    cache.set(f"order:{round}", round)
    cache.get(f"order:{round}")
    if round % 3 == 0:
        try:
            cache.lpush(f"order:{round}", "x")
        except redis.ResponseError:
            pass
    requests.get(os.environ["UPSTREAM"], timeout=2)
    tasks.charge.delay(round)
    if round % 4 == 0:
        tasks.reserve.delay(round)
    if round % 5 == 1:
        tasks.pack.delay(round)  # two slow tasks at once: the second goes to the other prefork child
        tasks.pack.delay(round)
    time.sleep(0.1)
"""


class _Upstream(BaseHTTPRequestHandler):
    """Fails one call in three with a 503."""

    calls = itertools.count()

    def do_GET(self) -> None:
        status = 503 if next(self.calls) % 3 == 0 else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        return


@dataclass(frozen=True)
class Run:
    engine: PromQL
    queries: list[Query]




def _has_data(engine: PromQL, query: Query) -> bool:
    series = engine.query(substitute(query.text, VALUES))
    values = [float(item["value"][1]) for item in series]
    if not any(math.isfinite(value) for value in values):
        return False
    failing = "Error" in query.panel or "Failure" in query.panel or "Retries" in query.panel
    return not failing or any(value > 0 for value in values)


def _workers_seen(engine: PromQL, query: Query) -> int:
    """How many worker processes have reported task runs so far. The pool hands a task to a child that is
    free, so quick tasks may all go to one child: the workload enqueues slow ``pack`` tasks in pairs, and the
    second of a pair finds the first child busy."""
    series = engine.query(substitute(query.text, VALUES))
    return len({item["metric"].get("service_instance_id") for item in series})


@pytest.fixture(scope="module")
def run(postgresql: PostgreSQL, redis: Redis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    workdir = tmp_path_factory.mktemp("deps-e2e")
    settings = load_settings(
        {"service_name": SERVICE, "environment": "e2e", "instrumentations": INSTRUMENTATIONS},
        environ={}, cwd=workdir,
    )
    rendered = {Path(path).stem: json.loads(text) for path, text in render(settings).items()
                if path.endswith(".json")}
    found = [query for name in ("dependencies", "tasks") for query in queries(rendered[name])
             if query.language == "promql" and not query.panel.startswith("$")]
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    script = workdir / "workload.py"
    script.write_text(textwrap.dedent(WORKLOAD), encoding="utf-8")
    with start_promql(workdir) as engine:
        environment = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "OTEL_SERVICE_NAME": SERVICE,
            "OBS_ENVIRONMENT": "e2e",
            "OBS_INSTRUMENTATIONS": ",".join(INSTRUMENTATIONS),
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": engine.otlp_url,
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
            "DB_URL": postgresql.url("postgresql+psycopg"),
            "EXAMPLES_BROKER_URL": redis.url(),
            "UPSTREAM": f"http://127.0.0.1:{upstream.server_address[1]}/stock",
        }
        obs = [sys.executable, "-m", "obs", "run", "--"]
        log = (workdir / "processes.log").open("wb")
        worker = subprocess.Popen(
            [*obs, sys.executable, "-m", "celery", "-A", "examples.tasks", "worker", "-P", "prefork",
             "-c", "2", "-O", "fair", "--loglevel", "warning"],  # fair: a busy child is given no second task
            cwd=workdir, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        producer = subprocess.Popen(
            [*obs, sys.executable, str(script)],
            cwd=workdir, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            pause = threading.Event()
            by_worker = next(query for query in found if query.panel == "Runs by worker process")
            for _second in range(90):
                if all(_has_data(engine, query) for query in found) and _workers_seen(engine, by_worker) >= 2:
                    break
                if producer.poll() is not None or worker.poll() is not None:
                    break
                pause.wait(1.0)
            yield Run(engine, found)
        finally:
            (workdir / "stop").write_text("")
            try:
                producer.wait(timeout=30)
            except subprocess.TimeoutExpired:
                stop_process_group(producer)
            stop_process_group(worker)
            log.close()
            upstream.shutdown()
            upstream.server_close()


def test_every_dependency_and_task_panel_returns_data(run: Run) -> None:
    """Each PromQL query of the Dependencies and Tasks dashboards (database, Redis, outgoing HTTP, tasks)
    returns a finite sample; the error, failure and retry panels see more than zero."""
    empty = [str(query) for query in run.queries if not _has_data(run.engine, query)]
    assert len(run.queries) >= 12
    assert not empty, "no data for:\n" + "\n".join(empty)


def test_database_panels_break_operations_down_by_collection_and_system(run: Run) -> None:
    """The database rate is split by system and collection: PostgreSQL's ``orders`` and Redis both appear."""
    query = next(query for query in run.queries if query.panel == "Operations")
    series = run.engine.query(substitute(query.text, VALUES))
    seen = {(item["metric"].get("db_system_name"), item["metric"].get("db_collection_name"))
            for item in series}
    assert ("postgresql", "orders") in seen
    assert any(system == "redis" for system, _ in seen)


def test_task_runs_come_from_each_worker_process(run: Run) -> None:
    """Runs by worker process: the two prefork children report under instance ids of their own."""
    query = next(query for query in run.queries if query.panel == "Runs by worker process")
    assert _workers_seen(run.engine, query) >= 2
    series = run.engine.query(substitute(query.text, VALUES))
    assert all(item["metric"].get("service_instance_id") for item in series)
