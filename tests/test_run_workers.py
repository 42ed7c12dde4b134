"""`obs run` with multi-process servers: every worker is instrumented, with its own identity and metrics.

The example apps run under gunicorn (2 sync workers, with and without ``--preload``) and uvicorn (2 workers,
spawned), exporting over OTLP/HTTP to the test receiver; requests go over real sockets.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from examples.launch import APPS, free_port, wait_until_answers, wait_until_listening
from tests.agent_run import OBS, ROOT, clean_environment, stop_process_group
from tests.otlp_receiver import OTLPReceiver, Span

PATHS = ("/get", "/items/1", "/items/2")
ROUNDS = 20
SERVER_KIND = 2


def _serve_and_load(
    receiver: OTLPReceiver, command: list[str], port: int, tmp_path: Path
) -> tuple[int, int, str]:
    """Start the server under obs run, send requests from 4 threads, wait until their metrics and spans
    arrived, stop it. Returns (requests sent, pid of the server's main process, its output)."""
    env = clean_environment({
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_SERVICE_NAME": "workers-test",
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",  # every request a span (the default keeps 10/s+10%)
        "EXAMPLES_DB": str(tmp_path / "shop.sqlite3"),
        "PYTHONPATH": str(ROOT),
    })
    process = subprocess.Popen([OBS, "run", "--", *command], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_listening(port, process)
        urls = [f"http://127.0.0.1:{port}{path}" for _ in range(ROUNDS) for path in PATHS]
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(_get, urls))
        sent = len(urls)
        receiver.wait_for(lambda: _requests_counted(receiver) >= sent and _server_spans(receiver) >= sent
                          and len(_worker_memory(receiver, process.pid)) >= 2)
    finally:
        output = stop_process_group(process, timeout=30, leader_only=True)
    return sent, process.pid, output


def _get(url: str) -> None:
    with urllib.request.urlopen(url, timeout=10) as answer:
        answer.read()


def _requests_counted(receiver: OTLPReceiver) -> int:
    return sum(point.count for point in receiver.latest_points("http.server.request.duration"))


def _server_spans(receiver: OTLPReceiver) -> int:
    return sum(1 for span in receiver.spans() if span.kind == SERVER_KIND)


def _worker_memory(receiver: OTLPReceiver, main_pid: int) -> dict[str, tuple[int, float]]:
    """service.instance.id -> (pid, resident memory) of every process but the server's main one."""
    return {
        point.resource["service.instance.id"]: (point.resource["process.pid"], point.value)
        for point in receiver.latest_points("process.memory.usage")
        if point.resource["process.pid"] != main_pid
    }


def _check(receiver: OTLPReceiver, sent: int, main_pid: int, output: str, item_route: str) -> None:
    assert _requests_counted(receiver) == sent, output[-2000:]
    servers = [span for span in receiver.spans() if span.kind == SERVER_KIND]
    assert len(servers) == sent
    assert Counter(span.attributes.get("http.route") for span in servers) == {
        "/get": ROUNDS, item_route: 2 * ROUNDS,
    }
    workers = _worker_memory(receiver, main_pid)
    assert len(workers) == 2, "each worker has its own service.instance.id"
    assert len({pid for pid, _ in workers.values()}) == 2, "each worker's metrics carry its own pid"
    main = [point.value for point in receiver.latest_points("process.memory.usage")
            if point.resource["process.pid"] == main_pid]
    assert main, "the main process reports its memory too"
    assert all(memory not in main for _, memory in workers.values()), "each worker reports its own memory"
    serving = {span.resource["service.instance.id"] for span in servers}
    counted = {point.resource["service.instance.id"]
               for point in receiver.latest_points("http.server.request.duration")}
    assert serving <= set(workers), "requests are served (and counted) by the workers"
    assert counted == serving
    assert "Traceback" not in output


@pytest.mark.parametrize("preload", [False, True], ids=["fork-then-import", "preload"])
def test_gunicorn_workers_each_report_their_requests(
    receiver: OTLPReceiver, tmp_path: Path, preload: bool
) -> None:
    """Flask under gunicorn -w 2 (with and without --preload): every request is one SERVER span with the
    templated route, the request-duration counts summed over the workers equal the requests sent, and each
    worker has its own service.instance.id, pid and memory figures."""
    port = free_port()
    command = APPS["flask"].command(port, workers=2)
    if preload:
        command.insert(1, "--preload")
    sent, main_pid, output = _serve_and_load(receiver, command, port, tmp_path)
    _check(receiver, sent, main_pid, output, "/items/<int:item_id>")


def test_uvicorn_workers_each_report_their_requests(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """FastAPI under uvicorn --workers 2 (spawned processes, which start the agent through the inherited
    PYTHONPATH): the same guarantees as for gunicorn."""
    port = free_port()
    command = APPS["fastapi"].command(port, workers=2)
    sent, main_pid, output = _serve_and_load(receiver, command, port, tmp_path)
    _check(receiver, sent, main_pid, output, "/items/{item_id}")


def _served_through_a_reloader(
    receiver: OTLPReceiver, tmp_path: Path, command: list[str], port: int, *, leader_only: bool
) -> tuple[list[Span], str, int]:
    """Run ``command`` (a server whose reloader serves from a child) under obs run, ask for two items; the
    SERVER spans, the output and the pid of the process obs run started."""
    env = clean_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "PYTHONPATH": str(ROOT),
                             "EXAMPLES_DB": str(tmp_path / "shop.sqlite3")})
    process = subprocess.Popen([OBS, "run", "--", *command], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/items/1", process)
        _get(f"http://127.0.0.1:{port}/items/2")
        receiver.wait_for(lambda: _server_spans(receiver) >= 2)
    finally:
        output = stop_process_group(process, timeout=30, leader_only=leader_only)
    return [span for span in receiver.spans() if span.kind == SERVER_KIND], output, process.pid


def test_uvicorn_reload_serves_instrumented(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """uvicorn --reload runs the app in a spawned child of the reloader: that child is instrumented."""
    port = free_port()
    watched = tmp_path / "watched"
    watched.mkdir()
    command = [*APPS["fastapi"].command(port), "--reload", "--reload-dir", str(watched)]
    servers, _, pid = _served_through_a_reloader(receiver, tmp_path, command, port, leader_only=True)
    assert [span.attributes["http.route"] for span in servers] == ["/items/{item_id}"] * 2
    assert {span.resource["process.pid"] for span in servers} != {pid}


def test_flask_run_debug_serves_instrumented_from_its_reloader_child(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """``flask run --debug`` (the usual way to develop a Flask app) serves from a child that Werkzeug's
    reloader starts again with the same command: that child is instrumented and its requests are spans with
    their route, and the debugger's own console lines still reach the terminal."""
    port = free_port()
    flask = str(Path(sys.executable).parent / "flask")
    command = [flask, "--app", "examples.flask_app.app", "run", "--debug", "--port", str(port)]
    # the reloader leaves its child serving on SIGTERM: the whole group is stopped
    servers, output, pid = _served_through_a_reloader(receiver, tmp_path, command, port, leader_only=False)
    assert [span.attributes["http.route"] for span in servers] == ["/items/<int:item_id>"] * 2
    assert {span.resource["process.pid"] for span in servers} != {pid}
    assert "Debugger is active!" in output and "Traceback" not in output, output[-3000:]
