"""Each private name of OpenTelemetry, CPython or loguru that the agent uses (all in obs.agent._compat) still
does what the agent needs, in the installed versions.

These tests run the real upstream code: when an upgrade removes or reshapes one of these names, the test of
that name fails and its message says which upstream name changed and what in the agent depends on it.
"""

from __future__ import annotations

import io
import subprocess
import sys
import threading
from pathlib import Path
from types import MappingProxyType

import pytest
from obs.agent import _compat
from opentelemetry.metrics import NoOpMeter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ConsoleMetricExporter,
    InMemoryMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from tests.otlp_receiver import OTLPReceiver


def _gone(upstream: str, needed_by: str) -> str:
    return (f"the installed upstream release changed {upstream}; obs.agent._compat must follow it "
            f"({needed_by} depends on it)")


def test_initializing_is_true_only_while_a_module_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CPython's ``__spec__._initializing`` is set while a module's code runs and cleared after: the boot
    that meets a half-imported module, and late imports, tell such modules apart with it."""
    (tmp_path / "obs_compat_probe.py").write_text(
        "import sys\nfrom obs.agent._compat import initializing\n"
        "DURING = initializing(sys.modules[__name__])\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import obs_compat_probe  # type: ignore[import-not-found]

    assert obs_compat_probe.DURING is True, _gone("module.__spec__._initializing", "the boot's deferral")
    assert _compat.initializing(obs_compat_probe) is False, _gone("module.__spec__._initializing",
                                                                  "the boot's deferral")


@pytest.mark.parametrize("name", sorted(_compat._LAZY))
def test_each_lazy_name_is_the_upstream_object(name: str) -> None:
    """Each class or function of the logs API and SDK (``opentelemetry._logs``, ``opentelemetry.sdk._logs``)
    and the API's gauge classes loads from the module it is said to come from."""
    import importlib

    module, upstream = _compat._LAZY[name]
    try:
        expected = getattr(importlib.import_module(module), upstream)
    except (ImportError, AttributeError):
        pytest.fail(_gone(f"{module}.{upstream}", f"obs.agent._compat.{name}"))
    assert getattr(_compat, name) is expected


def test_a_lazy_name_met_in_a_half_done_import_says_which_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lazy name whose upstream module is still executing further up the stack fails with an ImportError
    naming that module, as a plain ``from module import name`` would: the boot recognises such a failure and
    boots again once the module is done, instead of giving up."""
    (tmp_path / "obs_half_done.py").write_text(
        "from obs.agent import _compat\n"
        "try:\n"
        "    from obs.agent._compat import HalfDoneProbe\n"
        "except ImportError as error:\n"
        "    CAUGHT = error\n"
        "LATER = 1\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(_compat._LAZY, "HalfDoneProbe", ("obs_half_done", "LATER"))
    import obs_half_done  # type: ignore[import-not-found]

    assert "partially initialized module 'obs_half_done'" in str(obs_half_done.CAUGHT)


def test_the_gauge_classes_are_the_ones_the_api_makes() -> None:
    """``opentelemetry.metrics._Gauge`` and ``_NoOpGauge`` are what the API's meters return from
    ``create_gauge``: the meters handed out before the metrics SDK is built subclass them."""
    gauge = NoOpMeter("compat").create_gauge("g")
    assert isinstance(gauge, _compat.Gauge), _gone("opentelemetry.metrics._Gauge", "MeterOnFirstUse")
    assert isinstance(gauge, _compat.NoOpGauge), _gone("opentelemetry.metrics._NoOpGauge", "MeterOnFirstUse")


def test_the_sdk_log_encoder_encodes_sdk_records() -> None:
    """The SDK's private ``_log_encoder.encode_logs`` turns SDK log records into an ExportLogsServiceRequest:
    the agent's log exporter uses it for records that come as SDK objects."""
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    exporter = InMemoryLogRecordExporter()
    provider = _compat.LoggerProvider(resource=Resource({"service.name": "compat"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    provider.get_logger("compat").emit(body="hello", severity_number=_compat.SeverityNumber.INFO)
    message = _compat.encode_sdk_logs(exporter.get_finished_logs())
    request = ExportLogsServiceRequest.FromString(message.SerializeToString())
    bodies = [record.body.string_value for resource in request.resource_logs
              for scope in resource.scope_logs for record in scope.log_records]
    assert bodies == ["hello"], _gone(_compat.LOG_ENCODER_MODULE, "LogExporter.export")


def test_suppress_instrumentation_turns_instrumentations_off_on_this_thread() -> None:
    """The context key the instrumentations honour (``_SUPPRESS_INSTRUMENTATION_KEY``) is set by
    suppress_instrumentation for the calling thread only: the export threads' own HTTP requests are not
    traced, the app's threads still are."""
    from opentelemetry.instrumentation.utils import is_instrumentation_enabled

    seen: list[bool] = []

    def export_thread() -> None:
        _compat.suppress_instrumentation()
        seen.append(is_instrumentation_enabled())

    thread = threading.Thread(target=export_thread)
    thread.start()
    thread.join()
    assert seen == [False], _gone("opentelemetry.context._SUPPRESS_INSTRUMENTATION_KEY", "the export threads")
    assert is_instrumentation_enabled()


def test_a_suppression_ended_gives_the_thread_its_instrumentations_back() -> None:
    """An export done on the app's own thread (at exit, where Python 3.12 refuses the agent a thread) is not
    traced, and the app's thread is instrumented again once it is over."""
    from opentelemetry.instrumentation.utils import is_instrumentation_enabled

    token = _compat.suppress_instrumentation()
    during = is_instrumentation_enabled()
    _compat.end_suppression(token)
    assert (during, is_instrumentation_enabled()) == (False, True)


def test_update_resource_reaches_every_provider() -> None:
    """``_update_resource`` merges facts into the tracer, meter and logger providers' resources: a forked
    worker's pid reaches its spans, metrics and logs."""
    facts = Resource({"process.pid": 4242})
    tracer_provider = TracerProvider(resource=Resource({"service.name": "compat"}))
    meter_provider = MeterProvider(resource=Resource({"service.name": "compat"}))
    logger_provider = _compat.LoggerProvider(resource=Resource({"service.name": "compat"}))
    for provider in (tracer_provider, meter_provider, logger_provider):
        assert _compat.update_resource(provider, facts), _gone(f"{type(provider).__name__}._update_resource",
                                                                "the pipeline's fork hook")
    assert tracer_provider.resource.attributes["process.pid"] == 4242
    assert logger_provider.resource.attributes["process.pid"] == 4242
    resource = _compat.meter_provider_resource(meter_provider)
    assert resource is not None, _gone("MeterProvider._sdk_config.resource", "the RED metrics' resource")
    assert resource.attributes["process.pid"] == 4242
    assert resource.attributes["service.name"] == "compat"


def test_point_the_metrics_api_at_replaces_only_the_placeholder() -> None:
    """``opentelemetry.metrics._internal._METER_PROVIDER`` (the API's global, settable once) is replaced by
    the SDK's provider when it holds obs's placeholder, and left alone otherwise."""
    code = """
from opentelemetry import metrics
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from obs.agent._compat import point_the_metrics_api_at

class Placeholder(NoOpMeterProvider):
    pass

class Other(NoOpMeterProvider):
    pass

metrics.set_meter_provider(Placeholder())
point_the_metrics_api_at(MeterProvider(), Other)
print(type(metrics.get_meter_provider()).__name__)
sdk = MeterProvider()
point_the_metrics_api_at(sdk, Placeholder)
print(metrics.get_meter_provider() is sdk)
"""
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert ran.stdout.split() == ["Placeholder", "True"], _gone(
        "opentelemetry.metrics._internal._METER_PROVIDER",
        f"the lazily built metrics SDK ({ran.stderr[-300:]})")


def test_a_readers_collect_callback_can_be_wrapped() -> None:
    """A reader's ``_collect`` (set by the meter provider) can be wrapped to add data made outside the SDK's
    instruments, and ``_instrument_class_temporality`` says which temporality the reader wants for
    histograms: the RED metrics join every collection this way."""
    delta = InMemoryMetricReader(preferred_temporality={Histogram: AggregationTemporality.DELTA})
    cumulative = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[delta, cumulative])
    calls: list[str] = []

    def wrap(collect):  # type: ignore[no-untyped-def]
        def wrapped(reader, timeout_millis=10_000):  # type: ignore[no-untyped-def]
            calls.append("wrapped")
            return collect(reader, timeout_millis=timeout_millis)

        return wrapped

    assert _compat.wrap_reader_collect(delta, wrap), _gone("MetricReader._collect", "the RED metrics")
    provider.get_meter("compat").create_counter("c").add(1)
    assert delta.get_metrics_data() is not None
    assert calls == ["wrapped"], _gone("MetricReader._collect", "the RED metrics")
    assert _compat.histogram_temporality(delta) is AggregationTemporality.DELTA, _gone(
        "MetricReader._instrument_class_temporality / _Histogram", "the RED metrics' temporality")
    assert _compat.histogram_temporality(cumulative) is AggregationTemporality.CUMULATIVE
    provider.shutdown()


def test_exporter_preferences_are_the_constructors() -> None:
    """A metric exporter keeps the temporality and aggregation it was made with in
    ``_preferred_temporality`` and ``_preferred_aggregation``: obs's periodic reader passes them on."""
    from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation

    buckets = ExplicitBucketHistogramAggregation([1.0, 2.0])
    exporter = ConsoleMetricExporter(preferred_temporality={Counter: AggregationTemporality.DELTA},
                                     preferred_aggregation={Histogram: buckets})
    temporality, aggregation = _compat.exporter_preferences(exporter)
    assert temporality[Counter] is AggregationTemporality.DELTA, _gone(
        "MetricExporter._preferred_temporality", "obs's PeriodicReader")
    assert aggregation[Histogram] is buckets, _gone("MetricExporter._preferred_aggregation",
                                                    "obs's PeriodicReader")


def test_a_finished_spans_attributes_are_a_plain_dict_inside() -> None:
    """A finished span keeps its attributes in ``_attributes``, a BoundedAttributes holding a ``_dict``: the
    span encoder iterates that dict, not the read-only proxy ``attributes`` makes per call."""
    provider = TracerProvider()
    with provider.get_tracer("compat").start_as_current_span("s", attributes={"k": "v", "n": 1}) as span:
        pass
    attributes = _compat.span_attributes(span)
    assert attributes is not None and not isinstance(attributes, MappingProxyType), _gone(
        "ReadableSpan._attributes", "the span encoder")
    plain = _compat.plain_attributes(attributes)
    assert type(plain) is dict and plain == {"k": "v", "n": 1}, _gone("BoundedAttributes._dict",
                                                                       "the span encoder")


def test_the_sdk_http_log_exporters_client_sends_serialized_requests(receiver: OTLPReceiver) -> None:
    """The SDK's OTLP/HTTP log exporter (``_log_exporter.OTLPLogExporter``) has a ``_client`` whose
    ``export(bytes)`` posts a serialized request, a ``_shutdown`` flag, and pooled connections in
    ``_client._transport`` that can be closed: the log bridge sends its own encoding through them."""
    import importlib

    module, name = _compat.HTTP_LOG_EXPORTER
    exporter_class = getattr(importlib.import_module(module), name)
    exporter = exporter_class(endpoint=f"{receiver.endpoint}/v1/logs", timeout=10)
    client = _compat.sdk_http_log_client(exporter)
    assert client is not None, _gone(f"{module}.{name}._client", "the log bridge's direct sending")
    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add()
    record.body.string_value = "through the SDK's client"
    assert client.export(request.SerializeToString()).success
    assert receiver.wait_for(lambda: [log.body for log in receiver.logs()] == ["through the SDK's client"])
    assert _compat.close_client_connections(client), _gone(f"{name}._client._transport",
                                                           "the log bridge's fork")
    assert not _compat.exporter_shut_down(exporter)
    exporter.shutdown()
    assert _compat.exporter_shut_down(exporter), _gone(f"{name}._shutdown", "the log bridge's direct sending")
    assert _compat.sdk_http_log_client(object()) is None


def test_a_loguru_handlers_sink_can_be_read_and_replaced() -> None:
    """loguru's ``logger._core`` (patcher, handlers, lock), a handler's ``_sink`` and ``_serialize`` and a
    StreamSink's ``_stream``: the loguru bridge chains its patcher and puts trace ids on console sinks."""
    from loguru import logger

    stream = io.StringIO()
    handler_id = logger.add(stream, format="{message}")
    try:
        core = _compat.loguru_core(logger)
        assert hasattr(core, "patcher") and hasattr(core, "lock"), _gone("loguru logger._core",
                                                                         "the loguru bridge")
        handler = core.handlers[handler_id]
        sink = _compat.handler_sink(handler)
        assert _compat.sink_stream(sink) is stream, _gone("loguru StreamSink._stream", "console trace ids")
        replacement = io.StringIO()
        _compat.replace_handler_sink(handler, type(sink)(replacement))
        logger.info("to the replacement")
        assert replacement.getvalue() == "to the replacement\n", _gone("loguru Handler._sink",
                                                                        "console trace ids")
        assert stream.getvalue() == ""
        assert _compat.sink_stream(lambda message: None) is None
        assert not _compat.handler_serializes(handler)
        serialized_id = logger.add(io.StringIO(), serialize=True)
        assert _compat.handler_serializes(core.handlers[serialized_id]), _gone(
            "loguru Handler._serialize", "trace ids in serialized console lines")
        logger.remove(serialized_id)
    finally:
        logger.remove(handler_id)


def test_dbapi_metric_attributes_can_be_extended() -> None:
    """contrib's DB-API layer still builds ``db.client.operation.duration``'s attributes in
    ``CursorTracer._get_metric_attributes(operation_name, error)``: obs adds the collection (and the operation
    in upper case) there (obs.agent._integrations.database)."""
    from opentelemetry.instrumentation.dbapi import CursorTracer, DatabaseApiIntegration

    extra: list[dict[str, str]] = [{"db.collection.name": "items", "db.operation.name": "SELECT"}]
    assert _compat.extend_dbapi_metric_attributes(lambda: extra[0] if extra else None)
    tracer = CursorTracer(DatabaseApiIntegration("obs-test", "sqlite"))
    attributes = tracer._get_metric_attributes("select", None)
    assert attributes["db.system.name"] == "sqlite"
    assert attributes["db.collection.name"] == "items" and attributes["db.operation.name"] == "SELECT"
    extra.clear()
    assert tracer._get_metric_attributes("select", None)["db.operation.name"] == "select"


def test_dbapi_returned_rows_histogram_can_be_skipped() -> None:
    """contrib's DB-API layer keeps its ``db.client.response.returned_rows`` histogram in
    ``DatabaseApiIntegration._returned_rows_histogram`` (made when a connection's integration is, with the
    stable database conventions): obs swaps it for a no-op so that queries pay for one histogram, not two.
    In a fresh interpreter, as the conventions' mode is read once per process."""
    code = """
import os
os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "database"
from obs.agent._compat import skip_dbapi_returned_rows
from opentelemetry.instrumentation.dbapi import DatabaseApiIntegration
from opentelemetry.metrics import NoOpHistogram
before = DatabaseApiIntegration("obs-test", "sqlite")
print(type(before._returned_rows_histogram).__name__ != "NoOpHistogram")
print(skip_dbapi_returned_rows(), skip_dbapi_returned_rows())
after = DatabaseApiIntegration("obs-test", "sqlite")
print(isinstance(after._returned_rows_histogram, NoOpHistogram))
print(not isinstance(after._duration_histogram, NoOpHistogram))
"""
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert ran.stdout.split() == ["True", "True", "True", "True", "True"], _gone(
        "opentelemetry.instrumentation.dbapi DatabaseApiIntegration._returned_rows_histogram",
        f"queries paying for one histogram, not two ({ran.stderr[-300:]})")


def test_the_span_ending_hook_runs_before_every_on_end_and_can_clear_an_error() -> None:
    """The SDK calls a processor's SPAN_ENDING_HOOK while the span ends, before any processor's on_end, and
    clear_error_status set there is what every processor and exporter sees (obs's 4xx rule depends on it)."""
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Status, StatusCode

    class Clearing(SpanProcessor):
        pass

    setattr(Clearing, _compat.SPAN_ENDING_HOOK, lambda self, span: _compat.clear_error_status(span))
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # added first, yet sees the cleared status
    provider.add_span_processor(Clearing())
    span = provider.get_tracer("compat-test").start_span("GET")
    span.set_status(Status(StatusCode.ERROR, "Http404"))
    span.end()
    (ended,) = exporter.get_finished_spans()
    assert ended.status.status_code is StatusCode.UNSET, _gone("SpanProcessor._on_ending or Span._status",
                                                               "obs.agent._traces.failures")


def test_attribute_hashing_can_be_memoized_and_keeps_the_sdks_series() -> None:
    """SDK 1.45 keys a measurement's series with ``_view_instrument_match._hash_attributes``: obs remembers
    the key per distinct flat attribute set (obs.agent._metrics.sdk). Equal-but-differently-typed values
    stay apart, sequence values still work, and the same set lands in one series."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics._internal import _view_instrument_match
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    assert _compat.memoize_attribute_hashing() and _compat.memoize_attribute_hashing()
    assert getattr(_view_instrument_match._hash_attributes, "_obs_memoized", False)
    reader = InMemoryMetricReader()
    counter = MeterProvider(metric_readers=[reader]).get_meter("obs-test").create_counter("obs.test")
    for attributes in ({"v": 1}, {"v": True}, {"v": 1.0}, {"v": (1, 0)}, {"v": (True, False)}, {"v": 1},
                       {"a": "x", "b": 2}, {"b": 2, "a": "x"}):
        counter.add(1, attributes)
    data = reader.get_metrics_data()
    assert data is not None
    points = data.resource_metrics[0].scope_metrics[0].metrics[0].data.data_points
    series = sorted((repr(sorted(point.attributes.items())), point.value) for point in points)
    assert series == sorted([
        (repr([("v", 1)]), 2), (repr([("v", True)]), 1), (repr([("v", 1.0)]), 1),
        (repr([("v", (1, 0))]), 1), (repr([("v", (True, False))]), 1), (repr([("a", "x"), ("b", 2)]), 2),
    ])
