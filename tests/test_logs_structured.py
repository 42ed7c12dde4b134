"""Structured consoles and structlog under `obs run`: every console line parses as it did, and structlog's
events become OpenTelemetry logs with their bound context.

Each app runs in its own interpreter, plain and under ``obs run`` (exporting over OTLP/HTTP to the test
receiver): a JSON line stays valid JSON (the trace id, inside a span, as its ``trace_id`` field), a logfmt
line gets a ``trace_id=`` pair, plain text keeps the `` trace_id=`` suffix; nothing else on a line changes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.agent_run import exporting_to, python
from tests.otlp_receiver import LogRecord, OTLPReceiver

TRACE_SUFFIX = re.compile(r" trace_id=([0-9a-f]{32})$")
CHANGING = ("time", "timestamp", "asctime")
"""Fields that differ between any two runs."""

CONSOLES = """
import json, logging, sys
import structlog
from loguru import logger
from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter


class HandJson(logging.Formatter):
    def format(self, record):
        return json.dumps({"level": record.levelname, "message": record.getMessage()})


def stream_logger(name, formatter):
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    log = logging.getLogger(name)
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    return log


stdlib = [
    stream_logger("stock-json", logging.Formatter('{"level": "%(levelname)s", "message": "%(message)s"}')),
    stream_logger("compact-json", logging.Formatter('{"level":"%(levelname)s","message":"%(message)s"}')),
    stream_logger("python-json-logger", JsonFormatter("%(levelname)s %(name)s %(message)s")),
    stream_logger("hand-json", HandJson()),
    stream_logger("logfmt", logging.Formatter("level=%(levelname)s logger=%(name)s msg=%(message)s")),
    stream_logger("text", logging.Formatter("%(levelname)s %(name)s: %(message)s")),
]
logger.remove()
logger.add(sys.stdout, serialize=True, level="INFO")
renderers = {
    "structlog-json": structlog.processors.JSONRenderer(),
    "structlog-logfmt": structlog.processors.KeyValueRenderer(key_order=["event"]),
    "structlog-console": structlog.dev.ConsoleRenderer(colors=False),
}


def write_all(where):
    for log in stdlib:
        log.warning("%s %s", log.name, where)
    logger.info("loguru-serialize {}", where)
    for name, renderer in renderers.items():
        structlog.configure(processors=[structlog.processors.add_log_level, renderer],
                            logger_factory=structlog.PrintLoggerFactory(sys.stdout))
        structlog.get_logger().bind(source=name).warning(f"{name} {where}", n=1)
    sys.stdout.flush()


write_all("outside")
with trace.get_tracer("consoles").start_as_current_span("inside") as span:
    print("TRACE", format(span.get_span_context().trace_id, "032x"), file=sys.stderr)
    write_all("in-span")
"""


def _as_json(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _steady(value: dict[str, Any]) -> dict[str, Any]:
    if "record" in value:  # loguru's serialize: what does not change between runs
        record = value["record"]
        return {"message": record["message"], "level": record["level"]["name"], "extra": record["extra"]}
    return {key: item for key, item in value.items() if key not in CHANGING}


def test_console_lines_parse_as_before_with_the_trace_id_in_their_own_form(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """Line by line against the plain run: JSON lines (a stdlib Formatter whose format is JSON, in spaced and
    compact spacing, python-json-logger, a hand-written JSON formatter, loguru ``serialize=True``, structlog's
    JSONRenderer) are still JSON objects with the same fields; inside the span, those obs can read carry the
    span's trace id as a ``trace_id`` field, in the line's own spacing. logfmt lines (stdlib and structlog's
    KeyValueRenderer) and text lines (stdlib, structlog's ConsoleRenderer) are the plain ones plus a
    `` trace_id=`` pair. Lines outside the span are byte for byte the plain ones; loguru's own serialize
    sink, which obs does not own, is left as it was."""
    plain = python(CONSOLES, exporting_to(receiver), tmp_path, under_obs=False)
    observed = python(CONSOLES, exporting_to(receiver, OTEL_TRACES_SAMPLER="always_on"), tmp_path)
    assert plain.returncode == 0 and observed.returncode == 0, observed.stderr
    trace_id = next(line.split()[1] for line in observed.stderr.splitlines() if line.startswith("TRACE "))
    ours, theirs = observed.stdout.splitlines(), plain.stdout.splitlines()
    assert len(ours) == len(theirs) == 2 * 10
    json_lines = 0
    for line, before in zip(ours, theirs, strict=True):
        inside = "in-span" in before
        loguru_sink = "loguru-serialize" in before
        if not inside:
            assert line == before or (loguru_sink and _steady(_as_json(line) or {}) == _steady(
                _as_json(before) or {}))
            continue
        parsed, was = _as_json(line), _as_json(before)
        if was is not None:
            json_lines += 1
            assert parsed is not None, f"no longer JSON: {line}"
            if loguru_sink:
                assert _steady(parsed) == _steady(was)
                continue
            assert parsed.pop("trace_id") == trace_id, line
            assert _steady(parsed) == _steady(was)
            assert list(parsed) == list(was), "the other fields keep their order"
            compact = '":"' in before
            assert (f',"trace_id":"{trace_id}"}}' if compact else f', "trace_id": "{trace_id}"}}') in line
        else:
            found = TRACE_SUFFIX.search(line)
            assert found is not None and found.group(1) == trace_id, line
            assert line[: found.start()] == before
    assert json_lines == 6


STRUCTLOG = """
import logging, sys
import structlog
from opentelemetry import trace

route = sys.argv[1]
if route == "print":
    structlog.configure(processors=[structlog.contextvars.merge_contextvars,
                                    structlog.processors.add_log_level, structlog.processors.JSONRenderer()])
elif route == "stdlib":
    logging.basicConfig(stream=sys.stdout, format="%(message)s", level=logging.INFO)
    structlog.configure(processors=[structlog.stdlib.add_log_level, structlog.processors.KeyValueRenderer()],
                        logger_factory=structlog.stdlib.LoggerFactory(),
                        wrapper_class=structlog.stdlib.BoundLogger)
elif route == "formatter":
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(processors=[
        structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.JSONRenderer()]))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    structlog.configure(processors=[structlog.stdlib.add_log_level,
                                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
                        logger_factory=structlog.stdlib.LoggerFactory(),
                        wrapper_class=structlog.stdlib.BoundLogger)
log = structlog.get_logger("shop").bind(user="ann")
structlog.contextvars.bind_contextvars(request_id="r-1")
log.info("outside", n=1)
log.debug("too fine")
with trace.get_tracer("structlog-test").start_as_current_span("checkout") as span:
    print("TRACE", format(span.get_span_context().trace_id, "032x"), file=sys.stderr)
    log.info("inside", n=2)
    try:
        1 / 0
    except ZeroDivisionError:
        log.exception("failed")
"""


def _by_body(records: list[LogRecord]) -> dict[str, LogRecord]:
    bodies = [str(record.body) for record in records]
    assert len(bodies) == len(set(bodies)), f"a structlog event exported twice: {bodies}"
    return {str(record.body): record for record in records}


@pytest.mark.parametrize("route", ["default", "print", "stdlib", "formatter"])
def test_structlog_events_are_exported_with_bound_context_and_trace(
    receiver: OTLPReceiver, tmp_path: Path, route: str
) -> None:
    """structlog events become OpenTelemetry logs, once each, whether structlog prints by itself (its
    default configuration, or a JSONRenderer) or goes through stdlib logging (a KeyValueRenderer, or
    ProcessorFormatter): the event is the body, the level the severity, what was bound with ``bind()`` and
    ``structlog.contextvars`` the attributes; inside a span the record carries the span's trace id; an
    exception logged with ``log.exception`` arrives as exception attributes; DEBUG (below the default log
    level) is not exported."""
    (tmp_path / "app.py").write_text(STRUCTLOG)
    done = python(f"import runpy, sys; sys.argv = ['app.py', {route!r}]; runpy.run_path('app.py')",
                  exporting_to(receiver, OTEL_TRACES_SAMPLER="always_on"), tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr.replace("Traceback (most recent call last)", ""), done.stderr
    trace_id = next(line.split()[1] for line in done.stderr.splitlines() if line.startswith("TRACE "))
    receiver.wait_for(lambda: len(receiver.logs()) >= 3)
    records = _by_body([record for record in receiver.logs() if record.scope != "obs"])
    assert set(records) == {"outside", "inside", "failed"}
    outside, inside, failed = records["outside"], records["inside"], records["failed"]
    assert outside.attributes["user"] == inside.attributes["user"] == "ann"
    assert outside.attributes["request_id"] == inside.attributes["request_id"] == "r-1"
    assert (outside.attributes["n"], inside.attributes["n"]) == (1, 2)
    assert (inside.severity_text, inside.severity_number) == ("INFO", 9)
    assert outside.trace_id in ("", "0" * 32)
    assert inside.trace_id == failed.trace_id == trace_id
    assert failed.severity_text == "ERROR"
    assert failed.attributes["exception.type"] == "ZeroDivisionError"
    assert "1 / 0" in failed.attributes["exception.stacktrace"]
