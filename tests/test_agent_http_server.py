"""obs's own server middleware for Flask and FastAPI: the same telemetry as the contrib instrumentations,
recorded for a fraction of the cost, with failures kept at any sampling ratio.

Each test runs a small app under ``obs run`` in a child process, sends requests through the framework's
test client and reads what arrives at a real OTLP/HTTP receiver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.agent_run import PYTHON, clean_environment, obs_run
from tests.otlp_receiver import OTLPReceiver, Span

SERVER = 2

FLASK_APP = '''
import logging, sys, time
import flask

app = flask.Flask("shop")

@app.get("/items/<int:item_id>")
def item(item_id):
    logging.getLogger("shop").warning("item %s", item_id)
    return {"id": item_id}

@app.get("/boom")
def boom():
    logging.getLogger("shop").warning("about to fail")
    raise ValueError("bad")

@app.get("/stream")
def stream():
    def body():
        yield b"first"
        time.sleep(0.3)
        yield b"last"
    return flask.Response(body())

client = app.test_client()
'''

FASTAPI_APP = '''
import logging, sys
from fastapi import FastAPI
from starlette.testclient import TestClient

app = FastAPI()

@app.get("/items/{item_id}")
def item(item_id: int):
    logging.getLogger("shop").warning("item %s", item_id)
    return {"id": item_id}

@app.get("/boom")
def boom():
    logging.getLogger("shop").warning("about to fail")
    raise ValueError("bad")

orders = FastAPI()

@orders.get("/orders/{order_id}")
def order(order_id: int):
    return {"id": order_id}

app.mount("/v1", orders)
client = TestClient(app, raise_server_exceptions=False)
'''

SAME_REQUESTS = '''
for path in ["/items/1", "/items/2?q=1", "/boom", "/nothere"]:
    client.get(path, headers={"User-Agent": "spec", "X-Shop": "north", "X-Secret": "s3cret"})
'''
CAPTURED_HEADERS = {
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST": "User-Agent,x-.*",
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE": "content-type",
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS": ".*secret",
}
"""Headers captured as span attributes: regexes, case-insensitive, a sensitive one redacted."""
UNKNOWN_METHOD = {
    "flask": 'client.open("/items/1", method="FOO", headers={"User-Agent": "spec"})\n',
    "fastapi": 'client.request("FOO", "/items/1", headers={"User-Agent": "spec"})\n',
}

APPS = {"flask": FLASK_APP, "fastapi": FASTAPI_APP}


def _run(receiver: OTLPReceiver, tmp_path: Path, code: str, **env: str) -> str:
    script = tmp_path / "app.py"
    script.write_text(code)
    ran = obs_run([PYTHON, str(script)], clean_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                                                            **env}), tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    return ran.stderr


def _servers(receiver: OTLPReceiver) -> list[Span]:
    return [span for span in receiver.spans() if span.kind == SERVER]


def _shape(span: Span) -> tuple[Any, ...]:
    """What a span says about its request, without ids, times and the recording library's scope."""
    return span.name, span.kind, tuple(sorted(span.attributes.items())), span.status_code, span.events


def _series(receiver: OTLPReceiver) -> dict[tuple[Any, ...], int]:
    return {tuple(sorted(point.attributes.items())): point.count
            for point in receiver.latest_points("http.server.request.duration")}


@pytest.mark.parametrize("framework", ["flask", "fastapi"])
def test_spans_and_red_series_match_the_contrib_instrumentation(
    framework: str, receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """The same requests (matched, with a query, failing with an exception, unmatched, an unknown method)
    give the same server spans and the same duration series under obs's middleware as under the contrib
    one, captured request and response headers included. Two differences are on purpose: an unmatched
    request is named by its method alone (the semantic conventions' bounded span names; contrib Flask uses
    the raw path), and a span that failed with an exception says which in its status message."""
    code = APPS[framework] + SAME_REQUESTS + UNKNOWN_METHOD[framework]
    _run(receiver, tmp_path, code, OBS_SERVER_MIDDLEWARE="contrib", **CAPTURED_HEADERS)
    contrib_spans = sorted(_shape(span) for span in _servers(receiver))
    contrib_series = _series(receiver)
    receiver.clear()
    _run(receiver, tmp_path, code, **CAPTURED_HEADERS)
    obs_servers = _servers(receiver)
    assert {span.scope for span in obs_servers} == {"obs.agent.http_server"}
    assert len(obs_servers) == 5
    if framework == "flask":
        renamed = "GET /nothere"
        contrib_spans = sorted(("GET", *shape[1:]) if shape[0] == renamed else shape
                               for shape in contrib_spans)
    assert sorted(_shape(span) for span in obs_servers) == contrib_spans
    item = next(span for span in obs_servers if span.attributes.get("url.path") == "/items/1")
    assert item.attributes["http.request.header.x_shop"] == ["north"]
    assert item.attributes["http.request.header.x_secret"] == ["[REDACTED]"]
    assert item.attributes["http.response.header.content_type"] == ["application/json"]
    assert _series(receiver) == contrib_series
    assert sum(contrib_series.values()) == 5


@pytest.mark.parametrize("framework", ["flask", "fastapi"])
def test_failed_requests_are_kept_when_their_trace_is_not_sampled(
    framework: str, receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """At a sampling ratio of 0, successful requests leave no span, but the failing one is kept as an ERROR
    server span with its exception, under the trace id its log line already carries; the RED series still
    count every request, and exemplars point only at spans that exist."""
    requests = 'for path in ["/items/1", "/items/2", "/boom", "/items/3"]:\n  client.get(path)\n'
    code = APPS[framework] + requests
    _run(receiver, tmp_path, code,
         OTEL_TRACES_SAMPLER="parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG="0")
    (kept,) = _servers(receiver)
    assert (kept.name, kept.status_code, kept.events) == ("GET /boom", 2, ("exception",))
    assert kept.attributes["error.type"] == "500" and kept.attributes["url.path"] == "/boom"
    assert kept.status_message == "ValueError: bad"
    logged = {record.body: record for record in receiver.logs()}
    assert logged["about to fail"].trace_id == kept.trace_id
    assert logged["about to fail"].span_id == kept.span_id
    assert logged["item 1"].trace_id not in {span.trace_id for span in receiver.spans()}
    counts = {(point.attributes.get("http.route"), point.attributes["http.response.status_code"]): point.count
              for point in receiver.latest_points("http.server.request.duration")}
    route = "/items/<int:item_id>" if framework == "flask" else "/items/{item_id}"
    assert counts == {(route, 200): 3, ("/boom", 500): 1}
    exemplars = {trace for point in receiver.latest_points("http.server.request.duration")
                 for trace in point.exemplar_trace_ids}
    assert exemplars == set(), "no sampled span, no exemplar"


def test_exemplars_point_at_sampled_request_spans(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """With every trace sampled, each duration series carries exemplars whose trace ids are the spans'.

    One collection, at exit: an exemplar goes out with the first collection after its request, so with the
    tests' short export interval a slow run would carry them in an earlier point than the latest one."""
    _run(receiver, tmp_path, FLASK_APP + 'for n in range(5):\n    client.get(f"/items/{n}")\n',
         OTEL_METRIC_EXPORT_INTERVAL="60000")
    traces = {span.trace_id for span in _servers(receiver)}
    (point,) = receiver.latest_points("http.server.request.duration")
    assert point.count == 5
    assert point.exemplar_trace_ids and set(point.exemplar_trace_ids) <= traces


def test_a_streamed_flask_response_lasts_until_its_body_is_sent(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """A generator body is timed to its end (0.3 s of it comes after the first chunk), and the request's
    context is gone by the time the next request starts (the two spans have different traces)."""
    _run(receiver, tmp_path, FLASK_APP + 'response = client.get("/stream")\nassert response.get_data() == '
         'b"firstlast"\nresponse.close()\nclient.get("/items/1")\n')
    stream, item = sorted(_servers(receiver), key=lambda span: span.start_ns)
    assert stream.name == "GET /stream"
    assert stream.end_ns - stream.start_ns >= 300_000_000
    assert item.trace_id != stream.trace_id and item.parent_span_id == ""
    (point,) = [point for point in receiver.latest_points("http.server.request.duration")
                if point.attributes.get("http.route") == "/stream"]
    assert point.value >= 0.3


def test_the_caller_s_trace_continues_and_mounted_routes_keep_their_prefix(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """A ``traceparent`` header makes the server span a child of the caller's span; a route of a FastAPI app
    mounted under ``/v1`` is reported with the mount's prefix; FastAPI's native telemetry stays quiet (one
    server span a request)."""
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    call = f'client.get("/v1/orders/7", headers={{"traceparent": "{parent}"}})\n'
    _run(receiver, tmp_path, FASTAPI_APP + call)
    (span,) = _servers(receiver)
    assert span.name == "GET /v1/orders/{order_id}"
    assert (span.trace_id, span.parent_span_id) == ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")


def test_excluded_urls_are_not_recorded(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """``OTEL_PYTHON_FLASK_EXCLUDED_URLS`` (the contrib's setting) leaves those requests out of spans and
    metrics alike."""
    calls = 'client.get("/items/1")\nclient.get("/items/2")\nclient.get("/boom")\n'
    _run(receiver, tmp_path, FLASK_APP + calls, OTEL_PYTHON_FLASK_EXCLUDED_URLS="items/")
    assert [span.name for span in _servers(receiver)] == ["GET /boom"]
    assert sum(point.count for point in receiver.latest_points("http.server.request.duration")) == 1


LEAVES_NO_CYCLES = '''
import gc
for path in ["/items/1", "/boom"] * 5:
    client.get(path)
gc.collect()
gc.set_debug(gc.DEBUG_SAVEALL)
for path in ["/items/1", "/items/2"] * 20:
    client.get(path)
gc.collect()
print(sorted({type(o).__name__ for o in gc.garbage} & {"ServerRequest", "NonRecordingSpan", "Span"}))
'''


@pytest.mark.parametrize("framework", ["flask", "fastapi"])
def test_a_finished_request_leaves_nothing_for_the_cyclic_garbage_collector(
    framework: str, receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """The request record, its span and the framework's scope are freed as soon as a request ends, not by
    the cyclic collector (which, when the scope and the record held each other, ran 5-12 times as often
    as under the plain app and made up much of the FastAPI example's p99). A failed request's exception
    holds its frames in a cycle as in any Python program, so successful requests are counted here."""
    script = tmp_path / "app.py"
    script.write_text(APPS[framework] + LEAVES_NO_CYCLES)
    ran = obs_run([PYTHON, str(script)], clean_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                                                            "OTEL_TRACES_SAMPLER_ARG": "0.5"}), tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.strip().splitlines()[-1] == "[]"
    assert len(_servers(receiver)) >= 20, "the sampled half of the requests were recorded meanwhile"
