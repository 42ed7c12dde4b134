"""Structured consoles and structlog under `obs run`: every console line parses as it did, and structlog's
events become OpenTelemetry logs with their bound context.

Each app runs in its own interpreter, plain and under ``obs run`` (exporting over OTLP/HTTP to the test
receiver): a JSON line stays valid JSON (the trace id, inside a span, as its ``trace_id`` field), a logfmt
line gets a ``trace_id=`` pair, plain text keeps the `` trace_id=`` suffix; nothing else on a line changes.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.agent_run import Ran, exporting_to, python
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
    JSONRenderer) are still JSON objects with the same fields; inside the span they carry the span's trace
    id as a ``trace_id`` field, in the line's own spacing (loguru's: in ``record.extra``, where the app's own
    fields go). logfmt lines (stdlib and structlog's KeyValueRenderer) and text lines (stdlib, structlog's
    ConsoleRenderer) are the plain ones plus a `` trace_id=`` pair. Lines outside the span are byte for byte
    the plain ones (loguru's: but for its times and ids)."""
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
                assert parsed["record"]["extra"].pop("trace_id") == trace_id, line
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


STRUCTLOG_EVENTS = """
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
"""The events every structlog script writes with its ``log``: one outside a span, one below the level, one
inside a span (its trace id printed to stderr) and a logged exception."""


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
"""


def _by_body(records: list[LogRecord]) -> dict[str, LogRecord]:
    bodies = [str(record.body) for record in records]
    assert len(bodies) == len(set(bodies)), f"a structlog event exported twice: {bodies}"
    return {str(record.body): record for record in records}


def _assert_structlog_events_exported(receiver: OTLPReceiver, trace_id: str) -> None:
    """STRUCTLOG_EVENTS arrived once each: bound and contextvars values as attributes, the level as the
    severity, the span's trace id inside it and none outside, the logged exception as attributes."""
    receiver.wait_for(lambda: len([log for log in receiver.logs() if log.scope != "obs"]) >= 3)
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
    (tmp_path / "app.py").write_text(STRUCTLOG + STRUCTLOG_EVENTS)
    done = python(f"import runpy, sys; sys.argv = ['app.py', {route!r}]; runpy.run_path('app.py')",
                  exporting_to(receiver, OTEL_TRACES_SAMPLER="always_on"), tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr.replace("Traceback (most recent call last)", ""), done.stderr
    trace_id = next(line.split()[1] for line in done.stderr.splitlines() if line.startswith("TRACE "))
    _assert_structlog_events_exported(receiver, trace_id)


LOGURU_SINKS = """
import sys
from loguru import logger
from opentelemetry import trace

logger.remove()
logger.add(sys.stdout, serialize=True, level="INFO")
logger.add(sys.stdout, format="{level} {message} {extra}", level="INFO")
logger.add(lambda message: print("FUNCTION", message, end=""), serialize=True, level="INFO")
logger.add(sys.stderr, serialize=True, level="INFO", enqueue=True)


def write_all(where):
    logger.info("plain {}", where)
    logger.bind(user="ann", note='says "extra": {} and é').warning("bound {}", where)
    try:
        1 / 0
    except ZeroDivisionError:
        logger.opt(exception=True).error("failed {}", where)


write_all("outside")
logger.complete()  # the enqueued sink is done writing: the TRACE line cannot land inside one of its lines
with trace.get_tracer("consoles").start_as_current_span("inside") as span:
    print("TRACE", format(span.get_span_context().trace_id, "032x"), file=sys.stderr, flush=True)
    write_all("in-span")
logger.complete()
"""


def _loguru_steady(value: dict[str, Any]) -> dict[str, Any]:
    """A loguru ``serialize=True`` object without what differs between two runs (times, process and thread
    ids), the time prefix of its ``text`` cut off."""
    record = dict(value["record"])
    for key in ("elapsed", "time", "process", "thread"):
        record.pop(key)
    return {"text": value["text"].split(" | ", 1)[1], "record": record}



def _bridge_problems(run: Ran) -> list[str]:
    """What obs said about the log bridges (attaching, bridging, a post-import hook): nothing if they work."""
    return [line for line in run.obs_lines() if "loguru" in line or "structlog" in line or "hook" in line]


def _serialized(output: str) -> list[str]:
    """The lines of loguru's serialize=True sinks (the function sink's start with FUNCTION). On stderr, a
    line that another thread's ``print`` (two writes) got in front of is read from its own start."""
    lines = []
    for line in output.splitlines():
        start = line.find('{"text": ')
        if start >= 0:
            lines.append(line if line.startswith("FUNCTION {") else line[start:])
    return lines


def test_loguru_serialized_console_lines_carry_the_trace_id_in_their_extra(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """A loguru ``serialize=True`` sink on stdout or stderr (``enqueue=True`` too) writes, inside a span, the
    same JSON object as in the plain run with one more field, ``record.extra.trace_id``, last in ``extra``
    (every other key, value and their order as before, a bound value that looks like JSON included). Lines
    outside the span, a sink with a format of its own (even one that prints ``{extra}``) and a function sink
    are what they were: only console lines get the trace id, and only where they stay parseable."""
    plain = python(LOGURU_SINKS, exporting_to(receiver), tmp_path, under_obs=False)
    observed = python(LOGURU_SINKS, exporting_to(receiver, OTEL_TRACES_SAMPLER="always_on"), tmp_path)
    assert plain.returncode == 0 and observed.returncode == 0, observed.stderr
    assert not _bridge_problems(observed), observed.stderr
    trace_id = next(line.split()[1] for line in observed.stderr.splitlines() if line.startswith("TRACE "))
    with_id = 0
    for stream in ("stdout", "stderr"):
        ours, theirs = _serialized(getattr(observed, stream)), _serialized(getattr(plain, stream))
        assert len(ours) == len(theirs) == (12 if stream == "stdout" else 6), getattr(observed, stream)
        for line, before in zip(ours, theirs, strict=True):
            function = line.startswith("FUNCTION ")
            parsed = json.loads(line.removeprefix("FUNCTION "))
            was = json.loads(before.removeprefix("FUNCTION "))
            if "in-span" in was["record"]["message"] and not function:
                extra = parsed["record"]["extra"]
                assert list(extra)[-1] == "trace_id" and extra.pop("trace_id") == trace_id, line
                with_id += 1
            assert _loguru_steady(parsed) == _loguru_steady(was), line
            assert list(parsed["record"]) == list(was["record"]), "loguru's keys keep their order"
            assert list(parsed["record"]["extra"]) == list(was["record"]["extra"])
    assert with_id == 2 * 3
    formatted = [line for line in observed.stdout.splitlines() if '{"text": ' not in line]
    assert formatted == [line for line in plain.stdout.splitlines() if '{"text": ' not in line]
    assert formatted[1] == "WARNING bound outside {'user': 'ann', 'note': 'says \"extra\": {} and é'}"
    receiver.wait_for(lambda: len([log for log in receiver.logs() if log.scope != "obs"]) >= 6)
    exported = {str(log.body): log for log in receiver.logs() if log.scope != "obs"}
    assert exported["bound in-span"].trace_id == trace_id
    assert "trace_id" not in exported["bound in-span"].attributes


OWN_PROCESSORS = """
import logging, sys
import structlog
from opentelemetry import trace

route = sys.argv[1]
json_chain = [structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
              structlog.processors.JSONRenderer()]
if route == "wrap_logger":
    log = structlog.wrap_logger(structlog.PrintLogger(sys.stdout), processors=json_chain)
elif route == "get_logger":
    log = structlog.get_logger("shop", processors=[
        structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
        structlog.processors.KeyValueRenderer(key_order=["event"])])
elif route == "filtering":
    log = structlog.make_filtering_bound_logger(logging.DEBUG)(structlog.PrintLogger(), json_chain, {})
elif route == "stdlib":
    logging.basicConfig(stream=sys.stdout, format="%(message)s", level=logging.INFO)
    log = structlog.stdlib.BoundLogger(logging.getLogger("shop"), [
        structlog.contextvars.merge_contextvars, structlog.stdlib.add_log_level,
        structlog.processors.JSONRenderer()], {})
elif route == "configured-copy":
    structlog.configure(processors=json_chain)
    log = structlog.wrap_logger(structlog.PrintLogger(sys.stdout), processors=[
        structlog.processors.TimeStamper(key="stamp", fmt="%Y"), *structlog.get_config()["processors"]])
log = log.bind(user="ann")
"""


@pytest.mark.parametrize("route", ["wrap_logger", "get_logger", "filtering", "stdlib", "configured-copy"])
def test_structlog_loggers_with_their_own_processors_are_bridged_like_configured_ones(
    receiver: OTLPReceiver, tmp_path: Path, route: str
) -> None:
    """A structlog logger given processors of its own, not the configured ones (``wrap_logger(...,
    processors=...)``, ``get_logger(..., processors=...)``, a filtering or a stdlib ``BoundLogger`` made
    directly, a chain that copies the configured one) has its events exported once each, with bound context
    and the span's trace id, as a configured logger does. Its console is the plain run's, line by line, but
    for the trace id inside the span: a ``trace_id`` field of a JSON line, a `` trace_id=`` pair otherwise."""
    (tmp_path / "app.py").write_text(OWN_PROCESSORS + STRUCTLOG_EVENTS)
    code = f"import runpy, sys; sys.argv = ['app.py', {route!r}]; runpy.run_path('app.py')"
    plain = python(code, exporting_to(receiver), tmp_path, under_obs=False)
    observed = python(code, exporting_to(receiver, OTEL_TRACES_SAMPLER="always_on"), tmp_path)
    assert plain.returncode == 0 and observed.returncode == 0, observed.stderr
    assert not _bridge_problems(observed), observed.stderr
    trace_id = next(line.split()[1] for line in observed.stderr.splitlines() if line.startswith("TRACE "))
    ours, theirs = observed.stdout.splitlines(), plain.stdout.splitlines()
    assert len(ours) == len(theirs) >= 3, observed.stdout
    events = 0
    for line, before in zip(ours, theirs, strict=True):
        if "event" not in before or "outside" in before or "too fine" in before:
            assert line == before  # outside the span, or the traceback stdlib logging prints after a line
            continue
        events += 1
        was = _as_json(before)
        if was is None:
            found = TRACE_SUFFIX.search(line)
            assert found is not None and found.group(1) == trace_id, line
            assert line[: found.start()] == before
            continue
        parsed = _as_json(line)
        assert parsed is not None and parsed.pop("trace_id") == trace_id, line
        assert list(parsed.items()) == list(was.items())
    assert events == 2
    _assert_structlog_events_exported(receiver, trace_id)


FIRST_IMPORT = {
    "loguru": "from loguru import logger\nlog = logger\n",
    "structlog": "import structlog\nlog = structlog.get_logger()\n",
}


@pytest.mark.parametrize("library", sorted(FIRST_IMPORT))
def test_a_logging_library_the_app_imports_first_is_bridged(
    receiver: OTLPReceiver, tmp_path: Path, library: str
) -> None:
    """An app whose first import is loguru or structlog: they import ``logging``, which boots the agent while
    they are still half-imported; their bridge attaches as soon as their import is done, before the app's
    first line, and nothing is said."""
    code = FIRST_IMPORT[library] + textwrap.dedent("""
        import sys
        from opentelemetry import trace
        log.info("first line")
        with trace.get_tracer("first").start_as_current_span("span") as span:
            print("TRACE", format(span.get_span_context().trace_id, "032x"), file=sys.stderr)
            log.info("in a span")
    """)
    done = python(code, exporting_to(receiver, OTEL_TRACES_SAMPLER="always_on"), tmp_path)
    assert done.returncode == 0 and not _bridge_problems(done), done.stderr
    trace_id = next(line.split()[1] for line in done.stderr.splitlines() if line.startswith("TRACE "))
    receiver.wait_for(lambda: len([log for log in receiver.logs() if log.scope != "obs"]) >= 2)
    records = _by_body([record for record in receiver.logs() if record.scope != "obs"])
    assert set(records) == {"first line", "in a span"}
    assert records["in a span"].trace_id == trace_id
    console = done.stdout if library == "structlog" else done.stderr
    assert f"in a span trace_id={trace_id}" in console or f"in a span  trace_id={trace_id}" in console
