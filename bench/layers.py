"""The app called in-process (WSGI or ASGI, no sockets, no server) with OpenTelemetry added layer by layer.

Each layer adds one piece to the one before, so the difference between two layers is that piece's cost per
request: the contrib middleware with no-op providers, then the metrics SDK, spans that are not sampled, spans
that are, a batch processor that drops, the OTLP/HTTP exporter, the logging handler. ``obs`` is apart: the
app under ``obs.init()`` with its defaults. :func:`child` runs in a fresh interpreter per layer.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

LAYERS = ("plain", "middleware", "metrics", "unsampled-spans", "spans", "batch-drop", "otlp-export", "logs",
          "obs")


def _load(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _reaches(layer: str, piece: str) -> bool:
    return LAYERS.index(layer) >= LAYERS.index(piece)


def _providers(layer: str, endpoint: str) -> tuple[Any, Any]:
    """The tracer and meter providers a layer instruments with (the API's no-op ones below the SDK layers)."""
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.trace import NoOpTracerProvider

    meter_provider: Any = NoOpMeterProvider()
    tracer_provider: Any = NoOpTracerProvider()
    if _reaches(layer, "metrics"):
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    if _reaches(layer, "unsampled-spans"):
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

        tracer_provider = TracerProvider(sampler=ALWAYS_OFF if layer == "unsampled-spans" else ALWAYS_ON)
    if _reaches(layer, "batch-drop"):
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

        class Drop(SpanExporter):
            def export(self, spans: Sequence[Any]) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        exporter: Any = Drop()
        if _reaches(layer, "otlp-export"):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")
        tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    if _reaches(layer, "logs"):
        import logging

        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

        logger_provider = LoggerProvider()
        logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{endpoint}/v1/logs"))
        )
        logging.getLogger().addHandler(LoggingHandler(logger_provider=logger_provider))
    return tracer_provider, meter_provider


def instrumented_app(kind: str, target: str, layer: str, endpoint: str) -> Any:
    """The app object of ``target`` with the layer's instrumentation in place."""
    if layer == "obs":
        import obs

        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
        obs.init()
        return _load(target)  # imported after init: obs's instrumentors patch the framework first
    app = _load(target)
    if layer == "plain":
        return app
    tracer_provider, meter_provider = _providers(layer, endpoint)
    if kind == "wsgi":
        from opentelemetry.instrumentation.flask import FlaskInstrumentor

        FlaskInstrumentor.instrument_app(  # type: ignore[no-untyped-call]
            app, tracer_provider=tracer_provider, meter_provider=meter_provider
        )
    else:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=tracer_provider, meter_provider=meter_provider
        )
    return app


def wsgi_caller(app: Any, path: str, expected: int = 200) -> Callable[[], None]:
    """One GET of ``path`` through the WSGI app per call, as a server would make it; another status than
    ``expected`` raises."""
    base = {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "50000", "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
        "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
    }

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if not status.startswith(str(expected)):
            raise RuntimeError(f"{path} answered {status}")
        return lambda data: None

    def call() -> None:
        body = app({**base, "wsgi.input": io.BytesIO(b"")}, start_response)
        for _ in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()

    return call


def asgi_caller(app: Any, path: str, expected: int = 200) -> Callable[[], None]:
    """One GET of ``path`` through the ASGI app per call, on one event loop; another status than ``expected``
    raises."""
    loop = asyncio.new_event_loop()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000")], "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != expected:
            raise RuntimeError(f"{path} answered {message['status']}")

    def call() -> None:
        loop.run_until_complete(app(dict(scope), receive, send))

    return call


def child(kind: str, target: str, path: str, layer: str, amount: str, endpoint: str) -> dict[str, float]:
    """Runs in the measured interpreter: µs per request after a warm-up. ``amount`` is a number of
    requests, or seconds with an ``s`` suffix; ``WARM`` on stdout ends the warm-up (a profiler starts
    then). ``path`` may end in ``=STATUS`` for a route that answers another status than 200 (``/fail=500``:
    what a failing request costs, error grouping included)."""
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http,database")
    app = instrumented_app(kind, target, layer, endpoint)
    path, _, status = path.partition("=")
    call = (wsgi_caller if kind == "wsgi" else asgi_caller)(app, path, int(status or 200))
    for _ in range(500):
        call()
    print("WARM", flush=True)
    seconds = float(amount[:-1]) if amount.endswith("s") else None
    count = 0
    started = time.perf_counter()
    if seconds is None:
        count = int(amount)
        for _ in range(count):
            call()
    else:
        while time.perf_counter() - started < seconds:
            for _ in range(100):
                call()
            count += 100
    return {"us": (time.perf_counter() - started) / count * 1e6, "requests": count}
