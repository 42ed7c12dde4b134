"""The agent's error groups (obs.agent._errors): what a group is, where a failure is placed, the bound on
groups, the sample trace, and the failures of contrib instrumentations' spans. The end-to-end path through a
real app is tests/test_errors_e2e.py."""

from __future__ import annotations

import json
import traceback
from pathlib import Path

import flask
import pytest
from obs.agent._errors import frames
from obs.agent._errors.frames import is_project_file, where_from_text, where_from_traceback
from obs.agent._errors.groups import MAX_GROUPS, OTHER, SAMPLE_KEPT_NS, Groups
from obs.agent.catalog import ERRORS, ERRORS_LAST_SEEN

from tests.agent_run import PYTHON, Ran, exporting_to, obs_run, python
from tests.otlp_receiver import OTLPReceiver

MINUTE = 60 * 10**9


def _parse_in_a_library() -> object:
    return flask.json.loads("{not json")


def _raised(call: object) -> BaseException:
    try:
        call()  # type: ignore[operator]
    except Exception as error:
        return error
    raise AssertionError("did not raise")


def test_project_code_is_decided_by_path() -> None:
    """The app's code is any file outside site-packages, the standard library, obs itself, or pathless
    code; this test file counts as an app's."""
    assert is_project_file(__file__)
    assert not is_project_file(json.__file__)
    assert not is_project_file(flask.__file__ or "")
    assert not is_project_file(frames.__file__)
    assert not is_project_file("<string>")


def test_failure_inside_a_library_is_placed_in_the_app_function_that_called_it() -> None:
    """JSONDecodeError raised in json's decoder, under flask.json, belongs to the app's function that made
    the call: the innermost frame of the app's code, with its file and line."""
    error = _raised(_parse_in_a_library)
    where = where_from_traceback(error.__traceback__)
    assert where is not None
    function, path, line = where
    assert function == f"{__name__}._parse_in_a_library"
    assert path == __file__ and line == _parse_in_a_library.__code__.co_firstlineno + 1


def test_text_traceback_gives_the_same_place() -> None:
    """From a span's exception.stacktrace text (contrib instrumentations), the same function is found:
    module and name (a text traceback does not name classes)."""
    error = _raised(_parse_in_a_library)
    text = "".join(traceback.format_exception(error))
    assert where_from_text(text) == where_from_traceback(error.__traceback__)


def test_groups_beyond_the_cap_share_one_other_group() -> None:
    """A process keeps at most its cap of groups (100 by default); failures of any further kind are counted
    in the one "other" group, so the series a process sends stay bounded."""
    assert MAX_GROUPS == 100
    store = Groups(limit=3)
    for index in range(5):
        store.add((f"Error{index}", "app.view", "GET /"), 0, index)
    store.add(("Error0", "app.view", "GET /"), 0, 10)
    counts = {key: group.count for key, group in store.snapshot()}
    assert counts == {("Error0", "app.view", "GET /"): 2, ("Error1", "app.view", "GET /"): 1,
                      ("Error2", "app.view", "GET /"): 1, OTHER: 2}


def test_sample_trace_changes_at_most_once_a_minute() -> None:
    """A group keeps its sample trace id for a minute, then takes the next failure's: a recent sample, and
    at most one new last_seen series a minute per group. First and last seen follow every failure."""
    store = Groups()
    key = ("KeyError", "app.lookup", "GET /lookup")
    store.add(key, 1, 0)
    store.add(key, 2, MINUTE // 2)
    assert [(g.trace_id, g.count) for _, g in store.snapshot()] == [(1, 2)]
    store.add(key, 3, SAMPLE_KEPT_NS)
    [(_, group)] = store.snapshot()
    assert (group.trace_id, group.count, group.first_ns, group.last_ns) == (3, 3, 0, SAMPLE_KEPT_NS)


def test_first_failure_says_when_instruments_are_needed() -> None:
    """``add`` answers True only for the process's first failure: the instruments are registered then,
    so a process that never fails makes none."""
    store = Groups()
    assert store.add(("A", "f", ""), 0, 0) is True
    assert store.add(("B", "f", ""), 0, 0) is False


CONTRIB_SPAN = """
import logging

from opentelemetry import trace
from opentelemetry.trace import SpanKind

tracer = trace.get_tracer("opentelemetry.instrumentation.django")

def checkout():
    raise LookupError("no basket 42")

for _ in range(3):
    try:
        with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER):
            checkout()
    except LookupError:
        pass
with tracer.start_as_current_span("GET /fine", kind=SpanKind.SERVER):
    pass
with tracer.start_as_current_span("GET /report", kind=SpanKind.SERVER) as span:
    try:  # as Django does: the exception logged inside the request's span, then recorded on it
        checkout()
    except LookupError as error:
        logging.getLogger("django.request").error("Internal Server Error: /report", exc_info=True)
        span.record_exception(error)
        span.set_status(trace.Status(trace.StatusCode.ERROR))
"""


def test_contrib_server_span_failures_are_grouped(tmp_path: Path) -> None:
    """A server span of another instrumentation that ends in error with an exception event is counted in a
    group named by its exception type, the app's function from its stacktrace, and the span's name; its
    trace is the group's sample. A span that did not fail counts nothing. An exception logged inside such a
    span, then recorded on it, is one failure, of that span's operation."""
    with OTLPReceiver() as receiver:
        script = tmp_path / "shop.py"
        script.write_text(CONTRIB_SPAN)
        environment = exporting_to(receiver, OTEL_TRACES_SAMPLER="always_on")
        ran = obs_run([PYTHON, str(script)], environment, tmp_path)
        assert ran.returncode == 0, ran.stderr
        receiver.wait_for(lambda: bool(receiver.latest_points(ERRORS.name)))
        points = {point.attributes["obs.error.operation"]: point
                  for point in receiver.latest_points(ERRORS.name)}
        assert {operation: point.value for operation, point in points.items()} == {
            "POST /checkout": 3, "GET /report": 1}
        assert points["POST /checkout"].attributes == {"exception.type": "LookupError",
                                                       "code.function.name": "__main__.checkout",
                                                       "obs.error.operation": "POST /checkout"}
        last = {point.attributes["obs.error.operation"]: point.attributes["trace_id"]
                for point in receiver.latest_points(ERRORS_LAST_SEEN.name)}
        failed = {span.trace_id for span in receiver.spans() if span.name == "POST /checkout"}
        assert last["POST /checkout"] in failed


UNSAMPLED_SPANS = """
import logging

from opentelemetry import trace
from opentelemetry.trace import SpanKind

consumer = trace.get_tracer("opentelemetry.instrumentation.aio_pika")
server = trace.get_tracer("opentelemetry.instrumentation.asgi")

def consume():
    raise LookupError("no basket 42")

def serve():
    raise KeyError("basket")

for _ in range(2):
    try:
        with consumer.start_as_current_span("orders receive", kind=SpanKind.CONSUMER):
            consume()
    except LookupError:
        pass
for _ in range(3):
    try:  # as uvicorn does: the exception leaves the ASGI span, then the server logs it, outside any span
        with server.start_as_current_span("GET /basket", kind=SpanKind.SERVER):
            serve()
    except KeyError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
"""


@pytest.mark.parametrize("sampler", ["always_off", "parentbased_traceidratio"])
def test_contrib_failures_are_grouped_in_unsampled_traces(tmp_path: Path, sampler: str) -> None:
    """With a sampler that keeps no trace, another instrumentation's consumer and server spans that end in
    error are still counted, once each: an exception that leaves a server span and is logged after it ended
    is one failure, of that span's operation. Only the failed server spans are exported."""
    with OTLPReceiver() as receiver:
        environment = exporting_to(receiver, OTEL_TRACES_SAMPLER=sampler, OTEL_TRACES_SAMPLER_ARG="0")
        ran = _run_script(UNSAMPLED_SPANS, environment, tmp_path)
        assert ran.returncode == 0, ran.stderr
        counts = {(point.attributes["exception.type"], point.attributes["code.function.name"],
                   point.attributes["obs.error.operation"]): point.value
                  for point in receiver.latest_points(ERRORS.name)}
        assert counts == {("LookupError", "__main__.consume", "orders receive"): 2,
                          ("KeyError", "__main__.serve", "GET /basket"): 3}
        assert [span.name for span in receiver.spans()] == ["GET /basket"] * 3


@pytest.mark.parametrize("level", ["warning", "info"])
def test_exceptions_logged_below_error_are_not_failures(tmp_path: Path, level: str) -> None:
    """Only records at ERROR or above count: an exception logged as a warning is not a failure."""
    code = (
        "import logging\nlog = logging.getLogger('app')\n"
        f"try:\n    1 / 0\nexcept ZeroDivisionError:\n    log.{level}('odd', exc_info=True)\n"
        "try:\n    {}['x']\nexcept KeyError:\n    log.exception('missing')\n"
    )
    with OTLPReceiver() as receiver:
        ran = python(code, exporting_to(receiver, OBS_LOG_LEVEL="INFO"), tmp_path)
        assert ran.returncode == 0, ran.stderr
        receiver.wait_for(lambda: bool(receiver.latest_points(ERRORS.name)))
        types = {point.attributes["exception.type"] for point in receiver.latest_points(ERRORS.name)}
        assert types == {"KeyError"}


LOGGED = """
import logging
from loguru import logger
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind

log = logging.getLogger("app")
tracer = trace.get_tracer("opentelemetry.instrumentation.django")

def settle():
    return {}["basket"]

def convert():
    return int("x")

def checkout():
    raise LookupError("no basket 42")

try:
    settle()
except KeyError:
    log.exception("settling failed")
try:
    convert()
except ValueError:
    logger.exception("conversion failed")
try:
    with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER):
        checkout()
except LookupError:
    pass
metrics.get_meter("app").create_counter("app.done").add(1)
"""
"""An exception logged with stdlib logging, one with loguru, one a contrib server span ends with; then a
counter of the app's own, to know that its metrics were exported."""


def _run_script(code: str, environment: dict[str, str], folder: Path) -> Ran:
    """``code`` as a script file (its frames then have a path: the app's code) under ``obs run``."""
    script = folder / "shop.py"
    script.write_text(code)
    return obs_run([PYTHON, str(script)], environment, folder)


@pytest.mark.parametrize("logs", [
    {"OTEL_LOGS_EXPORTER": "none"},
    {"OBS_CAPTURE_LOGGING": "false", "OBS_CAPTURE_LOGURU": "false"},
    {"OBS_LOG_LEVEL": "critical"},
], ids=["logs-not-exported", "logging-not-captured", "below-the-export-level"])
def test_logged_exceptions_are_failures_whether_their_records_are_exported_or_not(
    tmp_path: Path, logs: dict[str, str]
) -> None:
    """``log.exception`` and loguru's ``logger.exception`` are grouped with log export off, with the bridges
    off, and with the export level above ERROR: the records are not exported, the failures are counted."""
    with OTLPReceiver() as receiver:
        ran = _run_script(LOGGED, exporting_to(receiver, OTEL_TRACES_SAMPLER="always_on", **logs), tmp_path)
        assert ran.returncode == 0, ran.stderr
        counts = {point.attributes["code.function.name"]: point.value
                  for point in receiver.latest_points(ERRORS.name)}
        assert counts == {"__main__.settle": 1, "__main__.convert": 1, "__main__.checkout": 1}
        assert not [record for record in receiver.logs() if "failed" in str(record.body)]


def test_error_groups_can_be_turned_off(tmp_path: Path) -> None:
    """``error_groups = false`` in ``[tool.obs]``, or ``OBS_ERROR_GROUPS=false``: no failure of any source
    is counted and no obs.errors series is sent, while the app's own metrics and its error log lines still
    are."""
    for way in ("file", "environment"):
        folder = tmp_path / way
        folder.mkdir()
        environment: dict[str, str] = {}
        if way == "file":
            (folder / "pyproject.toml").write_text("[tool.obs]\nerror_groups = false\n")
        else:
            environment["OBS_ERROR_GROUPS"] = "false"
        with OTLPReceiver() as receiver:
            ran = _run_script(LOGGED, exporting_to(receiver, OTEL_TRACES_SAMPLER="always_on", **environment),
                              folder)
            assert ran.returncode == 0, ran.stderr
            assert receiver.latest_points("app.done"), way
            assert not receiver.metric_points(ERRORS.name), way
            logged = {str(record.body) for record in receiver.logs()}
            assert logged >= {"settling failed", "conversion failed"}, way
