"""`obs run` under every common server and worker kind: the app answers as without obs, every worker reports.

Each server runs twice on loopback, plain and under ``obs run`` (exporting over OTLP/HTTP to the test
receiver), with the same burst of requests from several threads: gunicorn's sync, gthread and gevent workers
(with and without ``--preload``, with an app that calls gevent's ``monkey.patch_all()`` itself, and one that
imports gevent but never patches),
uvicorn's worker under gunicorn, ``uvicorn --workers``, hypercorn, and daphne (one process, Twisted's asyncio
reactor) serving the FastAPI example. Under obs: the same statuses and bodies, no traceback the plain run did
not print, one SERVER span and one RED count per request, process metrics from every worker (daphne's one
process serves and reports itself), and SIGTERM ends the server within a second of the plain server's time.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from examples.launch import free_port, wait_until_listening
from tests.agent_run import OBS, ROOT, clean_environment, stop_process_group
from tests.otlp_receiver import OTLPReceiver

BIN = Path(sys.executable).parent
FLASK = "examples.flask_app.app:app"
FASTAPI = "examples.fastapi_app.app:app"
SELF_PATCHING = "gevent_app:app"
"""A module of the test's own that patches with gevent first, then imports the Flask example."""
IMPORTS_GEVENT = "gevent_unpatched_app:app"
"""One that imports gevent and never patches (the agent must not wait for a patch that never comes)."""
PATHS = ("/items/1", "/items/2", "/items/99")
ROUNDS = 50
SERVER_KIND = 2


@dataclass(frozen=True)
class Server:
    """A server command on a port; ``threads`` sends the burst (more for the greenlet workers);
    ``workers`` the processes that serve: 1 for a server whose one process serves (no master)."""

    command: Callable[[int], list[str]]
    item_route: str
    threads: int = 8
    env: tuple[tuple[str, str], ...] = ()
    workers: int = 2


def _gunicorn(*options: str, target: str = FLASK) -> Callable[[int], list[str]]:
    return lambda port: [str(BIN / "gunicorn"), "-w", "2", *options, "-b", f"127.0.0.1:{port}", target]


SLOWER_FIRST_EXPORT = (("OTEL_METRIC_EXPORT_INTERVAL", "3000"),)
"""For apps that patch with gevent as they load in a sync worker: the tests' 300 ms interval would have
the first metrics export build the SDK on its thread while the app is still importing and patching (at the
default 60 s, never); then gevent patches a process with two threads, which it does not support."""
FLASK_ROUTE = "/items/<int:item_id>"
FASTAPI_ROUTE = "/items/{item_id}"
SERVERS = {
    "gunicorn-sync": Server(_gunicorn(), FLASK_ROUTE),
    "gunicorn-sync-preload": Server(_gunicorn("--preload"), FLASK_ROUTE),
    "gunicorn-gthread": Server(_gunicorn("-k", "gthread", "--threads", "4"), FLASK_ROUTE),
    "gunicorn-gevent": Server(_gunicorn("-k", "gevent"), FLASK_ROUTE, threads=16),
    "gunicorn-gevent-preload": Server(_gunicorn("-k", "gevent", "--preload"), FLASK_ROUTE, threads=16),
    "gunicorn-gevent-app-patches": Server(_gunicorn("-k", "gevent", target=SELF_PATCHING), FLASK_ROUTE,
                                          threads=16),
    "gunicorn-sync-app-patches": Server(_gunicorn(target=SELF_PATCHING), FLASK_ROUTE,
                                        env=SLOWER_FIRST_EXPORT),
    "gunicorn-sync-preload-app-patches": Server(_gunicorn("--preload", target=SELF_PATCHING), FLASK_ROUTE,
                                                env=SLOWER_FIRST_EXPORT),
    "gunicorn-sync-preload-app-imports-gevent": Server(_gunicorn("--preload", target=IMPORTS_GEVENT),
                                                       FLASK_ROUTE),
    "gunicorn-uvicorn-worker": Server(_gunicorn("-k", "uvicorn_worker.UvicornWorker", target=FASTAPI),
                                      FASTAPI_ROUTE),
    "uvicorn-workers": Server(lambda port: [str(BIN / "uvicorn"), "--workers", "2", "--host", "127.0.0.1",
                                            "--port", str(port), FASTAPI], FASTAPI_ROUTE),
    "hypercorn-workers": Server(lambda port: [str(BIN / "hypercorn"), "-w", "2", "-b", f"127.0.0.1:{port}",
                                              FASTAPI], FASTAPI_ROUTE),
    "daphne": Server(lambda port: [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), FASTAPI],
                     FASTAPI_ROUTE, workers=1),
}


@dataclass
class Run:
    """One server's run: what each request got, how long SIGTERM took, the output, the main pid."""

    answers: Counter[tuple[str, int, bytes]]
    sent: int
    stop_s: float
    output: str
    pid: int


def _answer(url: str) -> tuple[str, int, bytes]:
    path = url.split(":", 2)[2].split("/", 1)[1]
    try:
        with urllib.request.urlopen(url, timeout=20) as answer:
            return f"/{path}", answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return f"/{path}", error.code, error.read()


def _serve(server: Server, tmp_path: Path, name: str, receiver: OTLPReceiver | None) -> Run:
    """Serve, send the burst, (under obs) wait for its telemetry, SIGTERM and time the exit."""
    port = free_port()
    (tmp_path / "gevent_app.py").write_text(
        "from gevent import monkey\n\nmonkey.patch_all()\n\nfrom examples.flask_app.app import app  # noqa\n"
    )
    (tmp_path / "gevent_unpatched_app.py").write_text(
        "import gevent  # noqa\nfrom examples.flask_app.app import app  # noqa\n"
    )
    env = clean_environment({
        "OTEL_SERVICE_NAME": "servers-test",
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",  # every request a span (the default keeps 10/s+10%)
        "EXAMPLES_DB": str(tmp_path / f"{name}.sqlite3"),
        "PYTHONPATH": f"{ROOT}:{tmp_path}",
        **dict(server.env),
    })
    wrapper = [OBS, "run", "--"] if receiver is not None else []
    if receiver is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
    process = subprocess.Popen([*wrapper, *server.command(port)], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_listening(port, process)
        urls = [f"http://127.0.0.1:{port}{path}" for _ in range(ROUNDS) for path in PATHS]
        with ThreadPoolExecutor(server.threads) as pool:
            answers = Counter(pool.map(_answer, urls))
        sent = len(urls)
        if receiver is not None:
            receiver.wait_for(lambda: _red_count(receiver) >= sent and _server_spans(receiver) >= sent
                              and len(_worker_memory(receiver, process.pid, server)) >= server.workers,
                              timeout=60)  # bounded; a loaded machine boots the last worker late
    finally:
        started = time.monotonic()
        output = stop_process_group(process, timeout=60, leader_only=True)
        stop_s = time.monotonic() - started
    return Run(answers, sent, stop_s, output, process.pid)


def _red_count(receiver: OTLPReceiver) -> int:
    return sum(point.count for point in receiver.latest_points("http.server.request.duration"))


def _server_spans(receiver: OTLPReceiver) -> int:
    return sum(1 for span in receiver.spans() if span.kind == SERVER_KIND)


def _worker_memory(receiver: OTLPReceiver, main_pid: int, server: Server) -> dict[str, int]:
    """service.instance.id -> pid of every serving process that reports its memory: all but the server's
    main one, or that one alone for a one-process server."""
    alone = server.workers == 1
    return {
        point.resource["service.instance.id"]: point.resource["process.pid"]
        for point in receiver.latest_points("process.memory.usage")
        if (point.resource["process.pid"] == main_pid) == alone
    }


@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", list(SERVERS))
def test_server_answers_as_plain_and_every_worker_reports(
    receiver: OTLPReceiver, tmp_path: Path, name: str
) -> None:
    """Under obs run, each server answers the burst exactly as the plain server does (statuses and
    bodies), prints no traceback the plain one did not, counts every request once in the RED metrics and
    once as a SERVER span with the templated route (served and counted by the workers, each with its own
    identity and process metrics), and exits on SIGTERM within a second of the plain server's time."""
    server = SERVERS[name]
    plain = _serve(server, tmp_path, "plain", None)
    observed = _serve(server, tmp_path, "obs", receiver)

    assert observed.answers == plain.answers, observed.output[-3000:]
    assert {status for _, status, _ in plain.answers} == {200, 404}
    if "Traceback" not in plain.output:
        assert "Traceback" not in observed.output, observed.output[-3000:]
    assert _red_count(receiver) == observed.sent, observed.output[-3000:]
    servers = [span for span in receiver.spans() if span.kind == SERVER_KIND]
    assert len(servers) == observed.sent
    assert Counter(span.attributes.get("http.route") for span in servers) == {
        server.item_route: observed.sent,
    }
    workers = _worker_memory(receiver, observed.pid, server)
    assert len(workers) == server.workers == len(set(workers.values())), (
        f"each worker reports, with its pid: {workers}\n{observed.output[-3000:]}")
    serving = {span.resource["service.instance.id"] for span in servers}
    counted = {point.resource["service.instance.id"]
               for point in receiver.latest_points("http.server.request.duration")}
    assert serving <= set(workers), "requests are served (and counted) by the workers"
    assert counted == serving
    assert observed.stop_s <= plain.stop_s + 1.0, (observed.stop_s, plain.stop_s)


@pytest.mark.timeout(240)
def test_workers_recycled_by_max_requests_hand_over_every_request(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """``gunicorn --max-requests`` (a usual production setting) retires each worker after a few requests, and
    the master, whose agent threads are running, forks new ones all along: under obs run the burst is answered
    as by the plain server, and every request is counted once in the RED metrics and once as a SERVER span,
    by more processes than ``-w`` (a retiring worker exports what it counted as it exits), or, for a worker
    whose last export went unanswered on a loaded machine, said in that worker's exit line."""
    server = Server(_gunicorn("--max-requests", "15"), FLASK_ROUTE)
    plain = _serve(server, tmp_path, "plain", None)
    observed = _serve(server, tmp_path, "obs", receiver)

    assert observed.answers == plain.answers, observed.output[-3000:]
    assert {status for _, status, _ in plain.answers} == {200, 404}
    assert "Traceback" not in observed.output, observed.output[-3000:]
    # A worker retiring right after another gets only the rest of the run's one exit budget; on a loaded
    # machine its last export may then go unanswered: never silently, its exit line says what was lost.
    said = [line for line in observed.output.splitlines() if line.startswith("obs: not exported:")]
    retired = re.findall(r"Booting worker with pid: (\d+)", observed.output)
    reported = Counter(point.resource["process.pid"] for point in receiver.latest_points(
        "http.server.request.duration") for _ in range(point.count))
    servers = [span for span in receiver.spans() if span.kind == SERVER_KIND]
    served = Counter(span.resource["process.pid"] for span in servers)
    story = f"workers {retired}\nRED by pid {dict(reported)}\nspans by pid {dict(served)}\n" + "\n".join(said)
    unreported = [pid for pid in served if reported[pid] != served[pid]]
    lost_metrics = sum("metric points" in line or "the last metrics" in line for line in said)
    lost_spans = sum(int(count) for line in said for count in re.findall(r"(\d+) spans", line))
    assert len(unreported) <= lost_metrics, story
    assert len(servers) + lost_spans >= observed.sent, story
    assert _red_count(receiver) + 15 * len(unreported) >= observed.sent, story
    assert _red_count(receiver) <= observed.sent and len(servers) <= observed.sent, story
    assert len(served) > 2, "the requests were served by recycled workers"
    assert {str(pid) for pid in served} <= set(retired), story
