"""Every private name of OpenTelemetry, CPython or loguru that the agent touches, and only here.

Why: a few things the agent needs have no public way in the pinned releases (OpenTelemetry SDK 1.45.1,
contrib 0.66b1): the logs API and SDK live in ``_logs`` modules, a reader's collection has no hook for data
made outside the SDK's instruments, a forked worker's resource can only be updated through a private method,
and so on. Each use is wrapped here in a name that says what the agent wants from it, and
``tests/test_agent_compat.py`` checks every one against the installed versions: an upgrade that removes or
reshapes one fails there, naming it, instead of in a worker at run time.

Loading this module costs nothing (it imports nothing): each upstream module is imported by the first use of a
name that needs it; the classes of the logs API and SDK and the API's gauge are attributes loaded the same
way (``from obs.agent._compat import LoggerProvider`` imports the logs SDK then).
"""

from __future__ import annotations

TYPE_CHECKING = False  # loaded at every start (the import hook needs it): no typing until it is needed
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from contextvars import Token
    from typing import Any

    from google.protobuf.message import Message
    from opentelemetry._logs import LogRecord as LogRecord
    from opentelemetry._logs import SeverityNumber as SeverityNumber
    from opentelemetry._logs import get_logger_provider as get_logger_provider
    from opentelemetry._logs import set_logger_provider as set_logger_provider
    from opentelemetry.context import Context
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.metrics import _Gauge as Gauge
    from opentelemetry.metrics import _NoOpGauge as NoOpGauge
    from opentelemetry.sdk._logs import LoggerProvider as LoggerProvider
    from opentelemetry.sdk._logs import LogRecordProcessor as LogRecordProcessor
    from opentelemetry.sdk._logs import ReadableLogRecord as ReadableLogRecord
    from opentelemetry.sdk._logs import ReadWriteLogRecord as ReadWriteLogRecord
    from opentelemetry.sdk._logs.export import LogRecordExporter as LogRecordExporter
    from opentelemetry.sdk._logs.export import LogRecordExportResult as LogRecordExportResult
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.resources import Resource

__all__ = [
    "HTTP_LOG_EXPORTER",
    "LOGS_API_MODULE",
    "LOG_ENCODER_MODULE",
    "SPAN_ENDING_HOOK",
    "Gauge",
    "LogRecord",
    "LogRecordExportResult",
    "LogRecordExporter",
    "LogRecordProcessor",
    "LoggerProvider",
    "NoOpGauge",
    "ReadWriteLogRecord",
    "ReadableLogRecord",
    "SeverityNumber",
    "clear_error_status",
    "close_client_connections",
    "encode_sdk_logs",
    "end_suppression",
    "exporter_preferences",
    "exporter_shut_down",
    "extend_dbapi_metric_attributes",
    "get_logger_provider",
    "handler_serializes",
    "handler_sink",
    "histogram_temporality",
    "initializing",
    "loguru_core",
    "memoize_attribute_hashing",
    "meter_provider_resource",
    "plain_attributes",
    "point_the_metrics_api_at",
    "replace_handler_sink",
    "sdk_http_log_client",
    "set_logger_provider",
    "sink_stream",
    "skip_dbapi_returned_rows",
    "span_attributes",
    "suppress_instrumentation",
    "update_resource",
    "wrap_reader_collect",
]

# -- CPython ---------------------------------------------------------------------------------------------


def initializing(module: object) -> bool:
    """True while ``module`` is imported but its code has not finished running (``__spec__._initializing``,
    which the import system sets and clears; there is no public way to ask)."""
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


# -- OpenTelemetry: the logs API and SDK, the API's gauge --------------------------------------------------

LOGS_API_MODULE = "opentelemetry._logs"
"""The logs API (its import boots the agent, as the other signals' APIs do)."""
LOG_ENCODER_MODULE = "opentelemetry.exporter.otlp.proto.common._log_encoder"
HTTP_LOG_EXPORTER = ("opentelemetry.exporter.otlp.proto.http._log_exporter", "OTLPLogExporter")
"""The SDK's OTLP/HTTP log exporter: module and class name."""

_LAZY = {
    "LogRecord": (LOGS_API_MODULE, "LogRecord"),
    "SeverityNumber": (LOGS_API_MODULE, "SeverityNumber"),
    "get_logger_provider": (LOGS_API_MODULE, "get_logger_provider"),
    "set_logger_provider": (LOGS_API_MODULE, "set_logger_provider"),
    "LoggerProvider": ("opentelemetry.sdk._logs", "LoggerProvider"),
    "LogRecordProcessor": ("opentelemetry.sdk._logs", "LogRecordProcessor"),
    "ReadableLogRecord": ("opentelemetry.sdk._logs", "ReadableLogRecord"),
    "ReadWriteLogRecord": ("opentelemetry.sdk._logs", "ReadWriteLogRecord"),
    "LogRecordExporter": ("opentelemetry.sdk._logs.export", "LogRecordExporter"),
    "LogRecordExportResult": ("opentelemetry.sdk._logs.export", "LogRecordExportResult"),
    "Gauge": ("opentelemetry.metrics", "_Gauge"),
    "NoOpGauge": ("opentelemetry.metrics", "_NoOpGauge"),
}
"""Names loaded at their first use: this module's name -> (upstream module, upstream name)."""

if not TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        found = _LAZY.get(name)
        if found is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        import importlib

        try:
            value = getattr(importlib.import_module(found[0]), found[1])
        except AttributeError as error:
            # A module half-imported further up the stack ("partially initialized module", "cannot access
            # submodule"). Raised from here as it is, the from-import would replace it by a bare "cannot
            # import name": an ImportError with the same words keeps what the boot's deferral looks for.
            raise ImportError(str(error), name=found[0]) from error
        globals()[name] = value
        return value


def encode_sdk_logs(batch: object) -> Message:
    """The SDK's own ExportLogsServiceRequest for a batch of SDK log records (its encoder is private)."""
    from obs.agent._support.late_imports import load

    message: Message = load(LOG_ENCODER_MODULE).encode_logs(batch)
    return message


# -- OpenTelemetry: context ----------------------------------------------------------------------------------


def suppress_instrumentation() -> Token[Context]:
    """From now on, this thread makes no spans or metrics through instrumentations (the agent's export
    threads: their HTTP requests must not be traced). The API keeps the key it honours private. The token
    ends it (:func:`end_suppression`), for an export done on a thread that is not the agent's: the app's,
    exporting at exit where Python 3.12 refuses the agent a thread."""
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, set_value

    return attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))


def end_suppression(token: Token[Context]) -> None:
    """The calling thread's instrumentations as they were before :func:`suppress_instrumentation`."""
    from opentelemetry.context import detach

    detach(token)


# -- OpenTelemetry: providers, readers, exporters, spans ---------------------------------------------------


def update_resource(provider: object, facts: Resource) -> bool:
    """Merge ``facts`` into a provider's resource (a forked worker's pid), as the SDK does itself after fork
    for ``service.instance.id``; False when the provider has no such method."""
    update = getattr(provider, "_update_resource", None)
    if not callable(update):
        return False
    update(facts)
    return True


def meter_provider_resource(provider: object) -> Resource | None:
    """The meter provider's resource as it is now (after a fork, the worker's own); None if unreachable."""
    from opentelemetry.sdk.resources import Resource

    resource = getattr(getattr(provider, "_sdk_config", None), "resource", None)
    return resource if isinstance(resource, Resource) else None


def point_the_metrics_api_at(provider: MeterProvider, placeholder: type) -> None:
    """Make ``metrics.get_meter_provider()`` return ``provider`` where it returns a ``placeholder`` now: the
    API sets its global once only, and the agent's first one stands in for the SDK's until it is built."""
    from opentelemetry.metrics import _internal as api

    if isinstance(getattr(api, "_METER_PROVIDER", None), placeholder):
        api._METER_PROVIDER = provider


def wrap_reader_collect(
    reader: MetricReader,
    wrap: Callable[[Callable[..., Any]], Callable[..., Any]],
) -> bool:
    """Replace the collect callback the meter provider gave ``reader`` by ``wrap(callback)``: the SDK has no
    public hook for data made outside its instruments (no metric producers in this release). False when the
    reader has no such callback."""
    collect = getattr(reader, "_collect", None)
    if not callable(collect):
        return False
    reader._collect = wrap(collect)
    return True


def histogram_temporality(reader: MetricReader) -> object | None:
    """The temporality ``reader`` chose for histograms (it keys its choices by the SDK's internal instrument
    classes, ``_Histogram`` among them); None when it has no such choice."""
    chosen: Mapping[type, object] = getattr(reader, "_instrument_class_temporality", {})
    return next((value for kind, value in chosen.items() if getattr(kind, "__name__", "") == "_Histogram"),
                None)


def exporter_preferences(exporter: object) -> tuple[dict[type, Any], dict[type, Any]]:
    """A metric exporter's preferred temporality and aggregation, as given to its constructor (the SDK's own
    periodic reader reads them the same way)."""
    return exporter._preferred_temporality, exporter._preferred_aggregation  # type: ignore[attr-defined]


def plain_attributes(attributes: Mapping[str, object]) -> Mapping[str, object]:
    """The dict inside an immutable ``BoundedAttributes`` (it iterates four times faster than the mapping
    does through its lock); any other mapping as it is."""
    inner = getattr(attributes, "_dict", None)
    return inner if isinstance(inner, dict) else attributes


SPAN_ENDING_HOOK = "_on_ending"
"""The span processor method the SDK calls while a span ends, before any processor's ``on_end`` (SDK 1.45:
``SpanProcessor._on_ending``): the last moment a span can still be changed, for every processor alike."""


def clear_error_status(span: object) -> None:
    """Set an ending span's status back to UNSET: the API's ``set_status`` never goes back to UNSET, and
    refuses any change once ``end()`` has begun (where :data:`SPAN_ENDING_HOOK` is called)."""
    from opentelemetry.trace import Status, StatusCode

    span._status = Status(StatusCode.UNSET)  # type: ignore[attr-defined]


def span_attributes(span: object) -> Mapping[str, object] | None:
    """A finished span's attributes without the read-only proxy ``ReadableSpan.attributes`` makes per call."""
    attributes = getattr(span, "_attributes", None)
    return attributes if attributes is not None else getattr(span, "attributes", None)


def sdk_http_log_client(exporter: object) -> Any:
    """The SDK OTLP/HTTP log exporter's own client, whose ``export(bytes)`` sends serialized requests with
    everything configured on the exporter; None for any other exporter, or if the client changed shape."""
    kind = type(exporter)
    if (kind.__module__, kind.__qualname__) != HTTP_LOG_EXPORTER:
        return None
    client = getattr(exporter, "_client", None)
    return client if callable(getattr(client, "export", None)) else None


def exporter_shut_down(exporter: object) -> bool:
    """True once the SDK exporter was shut down (it then refuses to export)."""
    return bool(getattr(exporter, "_shutdown", False))


def close_client_connections(client: object) -> bool:
    """Close the pooled connections of the exporter's client (a forked child's copies of its parent's
    sockets); it opens new ones at its next request. False when it has no pool to close."""
    close = getattr(getattr(client, "_transport", None), "close", None)
    if not callable(close):
        return False
    close()
    return True


# -- OpenTelemetry contrib: the DB-API instrumentation ---------------------------------------------------


def extend_dbapi_metric_attributes(extra: Callable[[], Mapping[str, str] | None]) -> bool:
    """Add ``extra()``'s attributes to the DB-API instrumentation's ``db.client.operation.duration``.

    contrib 0.66 builds the metric's attributes in ``CursorTracer._get_metric_attributes`` and leaves out
    ``db.collection.name`` (and keeps the operation's case as written); there is no public hook. False when
    the method is gone (the metric then keeps contrib's attributes).
    """
    from opentelemetry.instrumentation.dbapi import CursorTracer

    original = getattr(CursorTracer, "_get_metric_attributes", None)
    if original is None or getattr(original, "_obs_extended", False):
        return original is not None

    def _get_metric_attributes(self: Any, operation_name: str, error: Exception | None) -> dict[str, Any]:
        attributes: dict[str, Any] = original(self, operation_name, error)
        more = extra()
        if more:
            attributes.update(more)
        return attributes

    _get_metric_attributes._obs_extended = True  # type: ignore[attr-defined]
    CursorTracer._get_metric_attributes = _get_metric_attributes  # type: ignore[method-assign]
    return True


def skip_dbapi_returned_rows() -> bool:
    """Have the DB-API instrumentation's connections record no ``db.client.response.returned_rows``.

    contrib 0.66 makes that histogram in ``DatabaseApiIntegration.__init__`` (one integration per
    connection), keeps it as ``_returned_rows_histogram`` and records each query's row count to it; the
    metrics SDK's drop view keeps it out of the export (obs.agent._metrics.sdk), but every record still
    builds a measurement, samples exemplars and hashes its attributes. Here each integration gets the API's
    no-op histogram instead. If the attribute moves, nothing is replaced and the drop view still applies
    (tests/test_agent_compat.py says so). False when the integration class has no ``__init__`` of its own.
    """
    from opentelemetry.instrumentation.dbapi import DatabaseApiIntegration
    from opentelemetry.metrics import NoOpHistogram

    init = DatabaseApiIntegration.__dict__.get("__init__")
    if init is None:
        return False
    if getattr(init, "_obs_skips_rows", False):
        return True
    skipped = NoOpHistogram("db.client.response.returned_rows")

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if getattr(self, "_returned_rows_histogram", None) is not None:
            self._returned_rows_histogram = skipped

    __init__._obs_skips_rows = True  # type: ignore[attr-defined]
    DatabaseApiIntegration.__init__ = __init__  # type: ignore[method-assign]
    return True


_HASHED_CACHE_SIZE = 4096
"""Distinct attribute sets remembered; past it the memo starts again (a series count bounded by views)."""


def memoize_attribute_hashing() -> bool:
    """Have the metrics SDK turn a measurement's attributes into its series key once per distinct set.

    SDK 1.45's ``_ViewInstrumentMatch.consume_measurement`` computes the key with the module's
    ``_hash_attributes`` (a sorted, type-tagged tuple, built recursively) on every record: about a third of
    a histogram record with six attributes, paid by every request and every database query. The memo maps
    ``(items, value types)`` of a flat dict of hashable scalars to the key the SDK gave it, so the series are
    the same; anything else (a sequence value, an unhashable one) goes to the SDK's function. The type of
    each value is in the memo's key because ``1``, ``1.0`` and ``True`` are equal in Python but are three
    series to the SDK. False when the function is gone (records then cost what they did).
    """
    from opentelemetry.sdk.metrics._internal import _view_instrument_match as match

    original = getattr(match, "_hash_attributes", None)
    if original is None:
        return False
    if getattr(original, "_obs_memoized", False):
        return True
    hashed: dict[tuple[tuple[tuple[str, Any], ...], tuple[type, ...]], Any] = {}

    def _hash_attributes(value: Any) -> Any:
        if type(value) is not dict:
            return original(value)
        types = tuple(map(type, value.values()))
        if tuple in types:
            return original(value)
        key = (tuple(value.items()), types)
        try:
            found = hashed.get(key)
        except TypeError:  # an unhashable value
            return original(value)
        if found is None:
            found = original(value)
            if len(hashed) >= _HASHED_CACHE_SIZE:
                hashed.clear()
            hashed[key] = found
        return found

    _hash_attributes._obs_memoized = True  # type: ignore[attr-defined]
    match._hash_attributes = _hash_attributes
    return True


# -- loguru ------------------------------------------------------------------------------------------------


def loguru_core(logger: object) -> Any:
    """The core every loguru logger shares: its ``patcher``, ``handlers`` and ``lock``."""
    return logger._core  # type: ignore[attr-defined]


def handler_sink(handler: object) -> Any:
    """The sink a loguru handler writes to; None when there is no handler."""
    return getattr(handler, "_sink", None)


def handler_serializes(handler: object) -> bool:
    """The loguru handler was added with ``serialize=True``: its sink gets each record as one JSON object."""
    return bool(getattr(handler, "_serialize", False))


def replace_handler_sink(handler: object, sink: object) -> None:
    """Make a loguru handler write to ``sink`` from its next message on."""
    handler._sink = sink  # type: ignore[attr-defined]


def sink_stream(sink: object) -> Any:
    """The stream of loguru's ``StreamSink`` (``sys.stderr`` for the default handler); None for any other
    sink (a file, a function, a handler)."""
    return getattr(sink, "_stream", None) if type(sink).__name__ == "StreamSink" else None
