"""A failure is the same for every framework: with the contrib server instrumentations
(``OBS_SERVER_MIDDLEWARE=contrib``) as with obs's own middleware, a 4xx is no error and a 5xx is kept as a
span even in a trace the sampler dropped, under the trace id of its log lines. The Flask and FastAPI
examples, under ``obs run``, over real OTLP (Django's contrib mode: tests/test_django.py)."""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from examples.launch import APPS, free_port, wait_until_answers
from tests.agent_run import OBS, ROOT, clean_environment, stop_process_group
from tests.otlp_receiver import OTLPReceiver

SERVER, UNSET, ERROR = 2, 0, 2
PATHS = ("/items/1", "/items/999", "/fail")


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


def _serve(receiver: OTLPReceiver, app: str, sampler: str, tmp_path: Path, spans: int) -> list[int]:
    port = free_port()
    env = clean_environment({
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_TRACES_SAMPLER": sampler,
        "OBS_SERVER_MIDDLEWARE": "contrib", "EXAMPLES_DB": str(tmp_path / "shop.sqlite3"),
        "PYTHONPATH": str(ROOT),
    })
    process = subprocess.Popen([OBS, "run", "--", *APPS[app].command(port)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/get", process)
        statuses = [_get(f"http://127.0.0.1:{port}{path}") for path in PATHS]
        receiver.wait_for(lambda: sum(1 for s in receiver.spans() if s.kind == SERVER) >= spans)
    finally:
        stop_process_group(process, timeout=30, leader_only=True)
    return statuses


@pytest.mark.timeout(120)
@pytest.mark.parametrize("app", ["flask", "fastapi"])
def test_contrib_server_spans_follow_the_failure_rule(
    receiver: OTLPReceiver, tmp_path: Path, app: str
) -> None:
    """Every request sampled: the 404 span is UNSET, the 500 span is an error."""
    assert _serve(receiver, app, "parentbased_always_on", tmp_path, 4) == [200, 404, 500]
    servers = {span.attributes.get("url.path"): span for span in receiver.spans() if span.kind == SERVER}
    assert servers["/items/999"].status_code == UNSET
    assert servers["/fail"].status_code == ERROR
    assert {span.scope for span in servers.values()} == {f"opentelemetry.instrumentation.{app}"}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("app", ["flask", "fastapi"])
def test_contrib_failed_request_is_kept_when_its_trace_is_not_sampled(
    receiver: OTLPReceiver, tmp_path: Path, app: str
) -> None:
    """No trace sampled: only the failed request comes out, as its server span, with the trace id of the
    error its handler logged."""
    assert _serve(receiver, app, "parentbased_always_off", tmp_path, 1) == [200, 404, 500]
    receiver.wait_for(lambda: any(log.trace_id for log in receiver.logs() if log.severity_number >= 17))
    (kept,) = receiver.spans()
    assert kept.kind == SERVER and kept.status_code == ERROR
    assert kept.attributes["http.response.status_code"] == 500
    errors = [log for log in receiver.logs() if log.severity_number >= 17 and log.trace_id]
    assert errors and {log.trace_id for log in errors} == {kept.trace_id}
