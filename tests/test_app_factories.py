"""Apps made by an application factory: Flask's, as its tutorial makes it (tests/apps/flaskr: a blueprint,
sqlite3 opened per request), served by ``gunicorn -w 2 'flaskr:create_app()'``, and FastAPI's, served by
``uvicorn --factory --workers 2``. Under ``obs run`` each answers as without obs, each request is a server
span with the blueprint's or router's route, and each query a database span under it, named after its
operation and table, without the query's values."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from examples.launch import free_port, wait_until_answers
from tests.agent_run import OBS, ROOT, clean_environment, stop_process_group
from tests.otlp_receiver import OTLPReceiver

SERVER, CLIENT = 2, 3
PATHS = ("/posts/1", "/posts/2", "/posts/1", "/nowhere")
BIN = Path(sys.executable).parent
SERVERS = {
    "flask-gunicorn": (lambda port: [str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}",
                                     "flaskr:create_app()"], "/posts/<int:post_id>"),
    "fastapi-uvicorn": (lambda port: [str(BIN / "uvicorn"), "--factory", "--workers", "2", "--host",
                                      "127.0.0.1", "--port", str(port), "fastapi_factory:create_app"],
                        "/posts/{post_id}"),
}


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=20) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _serve(tmp_path: Path, server: str, name: str, receiver: OTLPReceiver | None) -> list[tuple[int, bytes]]:
    port = free_port()
    env = clean_environment({"PYTHONPATH": str(ROOT / "tests" / "apps"), "OTEL_TRACES_SAMPLER": "always_on",
                             "FLASKR_DATABASE": str(tmp_path / f"{name}.sqlite")})
    command = SERVERS[server][0](port)
    if receiver is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        command = [OBS, "run", "--", *command]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/posts/1", process)
        answers = [_get(f"http://127.0.0.1:{port}{path}") for path in PATHS]
        if receiver is not None:
            receiver.wait_for(lambda: sum(span.kind == SERVER for span in receiver.spans()) > len(PATHS))
    finally:
        output = stop_process_group(process, timeout=20, leader_only=True)
    assert "Traceback" not in output, output[-3000:]
    return answers


@pytest.mark.parametrize("server", list(SERVERS))
def test_a_factory_app_answers_as_without_obs_and_is_recorded(
    receiver: OTLPReceiver, tmp_path: Path, server: str
) -> None:
    plain = _serve(tmp_path, server, "plain", None)
    observed = _serve(tmp_path, server, "obs", receiver)
    assert observed == plain
    assert [status for status, _ in plain] == [200, 404, 200, 404]
    servers = {span.span_id: span for span in receiver.spans() if span.kind == SERVER}
    routes = sorted(str(span.attributes.get("http.route")) for span in servers.values())
    assert routes.count(SERVERS[server][1]) == 4  # the readiness probe's and the three asked here
    clients = [span for span in receiver.spans() if span.kind == CLIENT]
    queries = [span for span in clients if span.parent_span_id in servers]
    assert len(queries) == 4
    assert {span.name for span in clients if span not in queries} == {"CREATE post", "INSERT post"}, (
        "outside requests: each worker's create_app() making its table")
    for query in queries:
        assert query.name == "SELECT post"
        assert query.attributes["db.system.name"] == "sqlite"
        assert query.attributes["db.query.text"] == "SELECT id, title FROM post WHERE id = ?"
