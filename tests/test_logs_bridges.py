"""The log bridges end to end: an app in a subprocess logs through stdlib logging and loguru, obs exports over
real OTLP/HTTP (the SDK's OTLPLogExporter) to the test's receiver, and the tests read what arrived.

Each app runs in its own interpreter: the bridges change process-wide logging state.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.otlp_receiver import LogRecord, OTLPReceiver

ROOT = Path(__file__).resolve().parent.parent

PRELUDE = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    trace.set_tracer_provider(TracerProvider())
    tracer = trace.get_tracer("obs-tests")
    ENDPOINT = os.environ["OBS_TEST_ENDPOINT"]
    PLAIN = os.environ.get("OBS_TEST_PLAIN") == "1"
    meters = MeterProvider(metric_readers=[PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=ENDPOINT + "/v1/metrics"), export_interval_millis=3_600_000)])
    handle = None

    def start():
        global handle
        if PLAIN:
            return
        from obs.agent._config.limits import log_limits
        from obs.agent._logs import start_logs
        from obs.agent.settings import load_settings
        handle = start_logs(load_settings(environ=os.environ, cwd=Path.cwd()),
                            Resource.create({"service.name": "logs-test"}),
                            OTLPLogExporter(endpoint=ENDPOINT + "/v1/logs"),
                            meters.get_meter("obs").create_counter("obs.logs.dropped"),
                            log_limits(os.environ))

    def finish():
        if handle is not None:
            handle.shutdown(10)
        meters.shutdown()

    def trace_id(span):
        return format(span.get_span_context().trace_id, "032x")
""")


def run_app(
    code: str, receiver: OTLPReceiver, cwd: Path, env: dict[str, str] | None = None, plain: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` after PRELUDE in a fresh interpreter; it calls start() and finish() itself."""
    script = cwd / "app.py"
    script.write_text(PRELUDE + textwrap.dedent(code))
    environ = {
        key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "OBS_", "LOGURU_"))
    }
    environ.update(PYTHONPATH=str(ROOT), OBS_TEST_ENDPOINT=receiver.endpoint, **(env or {}))
    if plain:
        environ["OBS_TEST_PLAIN"] = "1"
    done = subprocess.run(
        [sys.executable, str(script)], cwd=cwd, env=environ, capture_output=True, text=True, timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def by_body(records: list[LogRecord]) -> dict[str, LogRecord]:
    """Records keyed by body, asserting each body arrived exactly once."""
    bodies = [str(record.body) for record in records]
    duplicates = sorted({body for body in bodies if bodies.count(body) > 1})
    assert not duplicates, f"exported more than once: {duplicates}"
    return {str(record.body): record for record in records}


def printed(output: str, key: str) -> str:
    """The value the app printed as ``KEY value``; exactly one line may start with ``KEY ``, so a key that
    another line happens to start with fails here instead of reading the wrong value."""
    values = [line.split(" ", 1)[1] for line in output.splitlines() if line.startswith(f"{key} ")]
    assert len(values) == 1, f"expected one line starting with {key!r} in:\n{output}"
    return values[0]


def test_stdlib_records_carry_span_context_severity_and_attributes(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """stdlib records become OTLP logs: trace/span ids inside a span, severity number and text, code location,
    logger name, ``extra=`` fields and exception details as attributes; INFO is exported though the app never
    configured logging, DEBUG (below the default log level) is not; OpenTelemetry API records pass too; loguru
    is not imported for an app that does not use it."""
    done = run_app("""
        start()
        import logging
        from opentelemetry._logs import SeverityNumber, get_logger
        log = logging.getLogger("shop.orders")
        log.debug("debug line")
        log.info("outside span")
        with tracer.start_as_current_span("checkout") as span:
            log.warning("inside span %s", "w", extra={"order_id": 42, "user": "bob"})
            try:
                raise ValueError("bad order")
            except ValueError:
                log.exception("failed")
            log.critical("critical line")
            print("TRACE", trace_id(span))
            print("SPAN", format(span.get_span_context().span_id, "016x"))
        get_logger("api.scope").emit(body="api record", severity_number=SeverityNumber.WARN)
        print("LOGURU", "loguru" in sys.modules)
        finish()
    """, receiver, tmp_path)
    assert printed(done.stdout, "LOGURU") == "False"  # the agent never imports loguru for an app without it
    records = by_body(receiver.logs())
    assert "debug line" not in records
    outside = records["outside span"]
    assert (outside.severity_number, outside.severity_text, outside.trace_id) == (9, "INFO", "")
    inside = records["inside span w"]
    assert inside.trace_id == printed(done.stdout, "TRACE")
    assert inside.span_id == printed(done.stdout, "SPAN")
    assert (inside.severity_number, inside.severity_text, inside.scope) == (13, "WARN", "shop.orders")
    assert inside.attributes["order_id"] == 42 and inside.attributes["user"] == "bob"
    assert inside.attributes["logger.name"] == "shop.orders"
    assert inside.attributes["code.file.path"].endswith("app.py")
    assert inside.attributes["code.function.name"] == "<module>"
    assert isinstance(inside.attributes["code.line.number"], int)
    assert inside.resource["service.name"] == "logs-test"
    failed = records["failed"]
    assert (failed.severity_number, failed.severity_text) == (17, "ERROR")
    assert failed.attributes["exception.type"] == "ValueError"
    assert failed.attributes["exception.message"] == "bad order"
    assert "raise ValueError" in failed.attributes["exception.stacktrace"]
    assert (records["critical line"].severity_number, records["critical line"].severity_text) == (21, "FATAL")
    api = records["api record"]
    assert (api.scope, api.severity_number, api.trace_id) == ("api.scope", 13, "")


def test_loguru_records_keep_context_with_enqueued_sinks_and_bind_extras(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """loguru imported after the agent started is bridged (import hook); with an ``enqueue=True`` sink the
    records still carry the trace id of the span they were made in; bind() extras become attributes; loguru's
    levels map to OpenTelemetry severities; the app's own sink prints its lines unchanged."""
    done = run_app("""
        start()
        from loguru import logger
        logger.remove()
        logger.add(sys.stdout, format="{level} {message} {extra}", enqueue=True, level="TRACE")
        with tracer.start_as_current_span("job") as span:
            logger.bind(job_id="j-7", attempt=2).info("processing")
            logger.success("done")
            logger.trace("trace line")
            # stderr: the enqueued sink writes stdout from its own thread, and the two would interleave there
            print("SPAN_TRACE_ID", trace_id(span), file=sys.stderr, flush=True)
        logger.warning("outside")
        logger.critical("fatal outside")
        try:
            1 / 0
        except ZeroDivisionError:
            logger.exception("division")
        logger.complete()
        finish()
    """, receiver, tmp_path)
    records = by_body(receiver.logs())
    trace_id = printed(done.stderr, "SPAN_TRACE_ID")
    processing = records["processing"]
    assert processing.trace_id == trace_id
    assert processing.attributes["job_id"] == "j-7" and processing.attributes["attempt"] == 2
    assert (processing.severity_number, processing.severity_text, processing.scope) == (9, "INFO", "__main__")
    assert (records["done"].severity_number, records["done"].severity_text) == (12, "SUCCESS")
    assert records["done"].trace_id == trace_id
    assert "trace line" not in records  # below the default log level (info)
    assert (records["outside"].severity_number, records["outside"].trace_id) == (13, "")
    assert (records["fatal outside"].severity_number, records["fatal outside"].severity_text) == (21, "FATAL")
    assert records["division"].attributes["exception.type"] == "ZeroDivisionError"
    assert "INFO processing {'job_id': 'j-7', 'attempt': 2}" in done.stdout.splitlines()
    assert "SUCCESS done {}" in done.stdout.splitlines()
    assert "TRACE trace line {}" in done.stdout.splitlines()  # the app's sink still gets what is not exported


def test_loguru_patcher_chains_with_the_apps_configure_and_survives_remove(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """With loguru imported before the agent, the app's ``logger.remove()`` and
    ``logger.configure(patcher=...)`` keep the bridge working: the app's patcher runs first and its extras
    are exported; a per-logger ``logger.patch`` that fills extras later is seen too."""
    done = run_app("""
        from loguru import logger
        start()
        logger.remove()
        logger.add(sys.stdout, format="{message} {extra}")
        logger.configure(patcher=lambda record: record["extra"].update(tenant="acme"))
        logger.info("after configure")
        logger.patch(lambda record: record["extra"].update(late=True)).info("patched later")
        finish()
    """, receiver, tmp_path)
    records = by_body(receiver.logs())
    assert records["after configure"].attributes["tenant"] == "acme"
    assert records["patched later"].attributes["late"] is True
    assert "after configure {'tenant': 'acme'}" in done.stdout.splitlines()


def test_stdlib_and_loguru_forwarding_is_exported_once(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """Apps that forward one library into the other (loguru's InterceptHandler for stdlib, its
    PropagateHandler for loguru) get each record exported once, not twice."""
    run_app("""
        start()
        import logging
        from loguru import logger

        class InterceptHandler(logging.Handler):
            def emit(self, record):
                logger.opt(depth=6, exception=record.exc_info).log(record.levelname, record.getMessage())

        logging.basicConfig(handlers=[InterceptHandler()], level=0, force=True)
        logging.getLogger("lib").warning("stdlib through loguru")
        logging.getLogger().handlers.clear()

        class PropagateHandler(logging.Handler):
            def emit(self, record):
                logging.getLogger(record.name).handle(record)

        logger.add(PropagateHandler(), format="{message}")
        logger.warning("loguru through stdlib")
        finish()
    """, receiver, tmp_path)
    records = by_body(receiver.logs())
    assert records["stdlib through loguru"].scope == "lib"
    assert records["loguru through stdlib"].scope == "__main__"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"OBS_CAPTURE_LOGGING": "false"}, {"loguru info", "loguru warning"}),
        ({"OBS_CAPTURE_LOGURU": "false"}, {"stdlib info", "stdlib warning"}),
        ({"OBS_LOG_LEVEL": "warning"}, {"stdlib warning", "loguru warning"}),
    ],
)
def test_settings_choose_what_is_captured(
    receiver: OTLPReceiver, tmp_path: Path, env: dict[str, str], expected: set[str]
) -> None:
    """capture_logging, capture_loguru and log_level decide which records are exported."""
    run_app("""
        start()
        import logging
        from loguru import logger
        logger.remove()
        logging.getLogger("app").info("stdlib info")
        logging.getLogger("app").warning("stdlib warning")
        logger.add(lambda message: None)
        logger.info("loguru info")
        logger.warning("loguru warning")
        finish()
    """, receiver, tmp_path, env)
    assert set(by_body(receiver.logs())) == expected


def test_forked_child_exports_its_own_records_and_not_the_parents_queue(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """After fork the child has its own export thread, an empty queue and its own connections: records the
    parent queued before the fork are exported once (by the parent), the child's records by the child."""
    run_app("""
        start()
        import logging
        log = logging.getLogger("forky")
        log.warning("parent exported before fork")
        handle.flush(10)  # the parent now holds a pooled keep-alive connection to the receiver
        log.warning("parent before fork")
        pid = os.fork()
        if pid == 0:
            log.warning("child after fork")
            finish()
            os._exit(0)
        os.waitpid(pid, 0)
        log.warning("parent after fork")
        finish()
    """, receiver, tmp_path, {"OTEL_BLRP_SCHEDULE_DELAY": "5000"})
    assert set(by_body(receiver.logs())) == {
        "parent exported before fork", "parent before fork", "child after fork", "parent after fork",
    }


def test_shutdown_gives_logging_and_loguru_back_as_they_were(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """After shutdown, stdlib logging (callHandlers, root level, StreamHandler.format), loguru (core
    patcher, configure, add, the default and serialized console sinks) and structlog (BoundLoggerBase's
    constructor, the configured processors) are exactly what they were before the agent started."""
    done = run_app("""
        import logging
        from loguru import logger
        from loguru._logger import Logger
        import structlog
        logger.add(sys.stdout, serialize=True)
        before = (logging.Logger.callHandlers, logging.getLogger().level, dict(vars(logging.StreamHandler)),
                  logger._core.patcher, Logger.configure, Logger.add,
                  [handler._sink for handler in logger._core.handlers.values()],
                  structlog.BoundLoggerBase.__init__, structlog.get_config()["processors"],
                  list(sys.meta_path))
        start()
        changed = (logging.Logger.callHandlers is not before[0] and logger._core.patcher is not None
                   and Logger.add is not before[5] and structlog.BoundLoggerBase.__init__ is not before[7])
        logging.getLogger("app").info("exported")
        finish()
        after = (logging.Logger.callHandlers, logging.getLogger().level, dict(vars(logging.StreamHandler)),
                 logger._core.patcher, Logger.configure, Logger.add,
                 [handler._sink for handler in logger._core.handlers.values()],
                 structlog.BoundLoggerBase.__init__, structlog.get_config()["processors"],
                 list(sys.meta_path))
        print("CHANGED", changed)
        print("RESTORED", all(a is b or a == b for a, b in zip(before, after)))
        print("ROOT", type(logging.getLogger().level).__name__, logging.getLogger().level)
    """, receiver, tmp_path)
    assert printed(done.stdout, "CHANGED") == "True"
    assert printed(done.stdout, "RESTORED") == "True"
    assert printed(done.stdout, "ROOT") == "int 30"
    assert [str(record.body) for record in receiver.logs()] == ["exported"]


@pytest.mark.parametrize("exported", [False, True])
def test_server_access_lines_stay_on_the_console_unless_asked_for(
    exported: bool, receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """uvicorn's and gunicorn's access lines repeat what each request's span and metrics hold: they are
    printed as before but not exported, unless OBS_CAPTURE_ACCESS_LOGS is true; other loggers of the same
    servers are exported."""
    done = run_app("""
    start()
    import logging
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s %(message)s")
    logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET /get HTTP/1.1" 200')
    logging.getLogger("gunicorn.access").info('127.0.0.1 - "GET /items HTTP/1.1" 200')
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    finish()
    """, receiver, tmp_path, env={"OBS_CAPTURE_ACCESS_LOGS": "true"} if exported else None)
    assert 'uvicorn.access 127.0.0.1 - "GET /get HTTP/1.1" 200' in done.stdout
    assert 'gunicorn.access 127.0.0.1 - "GET /items HTTP/1.1" 200' in done.stdout
    bodies = sorted(record.body for record in receiver.logs())
    access = ['127.0.0.1 - "GET /get HTTP/1.1" 200', '127.0.0.1 - "GET /items HTTP/1.1" 200']
    assert bodies == sorted(["Application startup complete.", *(access if exported else [])])
