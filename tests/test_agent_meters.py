"""The metrics SDK is built at its first need: a script that only logs never loads it, yet every metric still
reaches the collector (process metrics, the app's own, the RED figures of a short-lived server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from obs.agent import catalog
from obs.agent._metrics.process import ProcessMetrics
from obs.agent._metrics.red_data import attach_to_reader
from obs.agent._metrics.red_store import ServerRequests
from obs.agent._metrics.without_sdk import final_metrics_request
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics as sdk_encode_metrics
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource

from tests.agent_run import PYTHON, exporting_to, obs_run, python
from tests.otlp_receiver import OTLPReceiver

SDK_LOADED = "print('opentelemetry.sdk.metrics' in sys.modules)\n"
NO_TICK = {"OTEL_METRIC_EXPORT_INTERVAL": "600000"}
"""An export interval no test process lives to see: only the end of the process exports metrics."""


def test_a_script_that_only_logs_never_loads_the_metrics_sdk_yet_sends_its_process_metrics(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    code = (
        "import logging, sys, obs\nlogging.getLogger('job').warning('done')\n"
        "obs.shutdown()\n" + SDK_LOADED
    )
    ran = python(code, exporting_to(receiver, **NO_TICK), tmp_path)
    assert ran.stdout.split() == ["False"], ran.stderr
    assert [record.body for record in receiver.logs()] == ["done"]
    memory = receiver.latest_points("process.memory.usage")
    assert len(memory) == 1 and memory[0].value > 1_000_000 and memory[0].kind == "sum"
    assert memory[0].scope == "obs.process"
    assert {point.attributes["cpu.mode"] for point in receiver.latest_points("process.cpu.time")} == {
        "user", "system"}
    generations = receiver.latest_points("cpython.gc.collections")
    assert sorted(point.attributes["cpython.gc.generation"] for point in generations) == [0, 1, 2]


def test_a_process_still_running_at_its_first_export_interval_builds_the_sdk_and_exports_on_time(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """At 300 ms a second, a process that lives 1.5 s exports its process metrics before it ends."""
    code = (
        "import logging, sys, time, urllib.request\n"
        "time.sleep(1.5)\n" + SDK_LOADED
    )
    ran = python(code, exporting_to(receiver, OTEL_METRIC_EXPORT_INTERVAL="300"), tmp_path)
    assert ran.stdout.split() == ["True"], ran.stderr
    exports = {point.time_ns for point in receiver.metric_points("process.memory.usage")}
    assert len(exports) >= 3  # the first interval's, at least one more, and the one at exit


def test_the_first_measurement_builds_the_sdk_and_nothing_measured_is_lost(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """Meters and instruments made at import time (as instrumentations make theirs) do not load the SDK;
    their first measurement does, and is exported. Until then the API hands out obs's stand-in provider,
    afterwards the SDK's own."""
    code = (
        "import sys\nfrom opentelemetry import metrics\n"
        "print(type(metrics.get_meter_provider()).__name__)\n"
        "meter = metrics.get_meter('shop')\n"
        "orders = meter.create_counter('orders')\n"
        "latency = meter.create_histogram('checkout.duration', 's',\n"
        "                                 explicit_bucket_boundaries_advisory=[1, 2])\n"
        + SDK_LOADED +
        "orders.add(2, {'kind': 'book'})\nlatency.record(1.5)\n" + SDK_LOADED +
        "print(type(metrics.get_meter_provider()).__name__)\n"
    )
    ran = python(code, exporting_to(receiver, **NO_TICK), tmp_path)
    assert ran.stdout.split() == ["MeterProviderOnFirstUse", "False", "True", "MeterProvider"], ran.stderr
    [orders] = receiver.latest_points("orders")
    assert (orders.value, orders.attributes) == (2, {"kind": "book"})
    [latency] = receiver.latest_points("checkout.duration")
    assert latency.count == 1 and latency.bounds[:2] == (1.0, 2.0)  # the advice reached the SDK
    assert receiver.latest_points("process.memory.usage")


def test_an_observable_instrument_made_before_the_sdk_is_collected_at_exit(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    code = (
        "from opentelemetry import metrics\nfrom opentelemetry.metrics import Observation\n"
        "metrics.get_meter('shop').create_observable_gauge(\n"
        "    'queue.depth', callbacks=[lambda options: [Observation(7, {'queue': 'orders'})]])\n"
    )
    ran = python(code, exporting_to(receiver, **NO_TICK), tmp_path)
    assert ran.returncode == 0, ran.stderr
    [depth] = receiver.latest_points("queue.depth")
    assert (depth.value, depth.attributes, depth.kind) == (7, {"queue": "orders"}, "gauge")


def test_a_process_that_forks_with_metrics_expected_builds_them_once_for_its_children(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """As a gunicorn --preload master does: the app (and its instruments) are loaded, then workers fork.
    The workers inherit the SDK; a process that expects no metrics forks without building it."""
    code = (
        "import os, sys\nimport logging\nfrom opentelemetry import metrics\n"
        "if sys.argv[1] == 'expects':\n    metrics.get_meter('shop').create_counter('orders')\n"
        "pid = os.fork()\n"
        "if pid == 0:\n" + "    " + SDK_LOADED.replace("\n", "") + "\n    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
    )
    for argument, loaded in (("expects", "True"), ("does-not", "False")):
        script = tmp_path / "forks.py"
        script.write_text(code)
        ran = obs_run([PYTHON, str(script), argument], exporting_to(receiver, **NO_TICK), tmp_path)
        assert ran.stdout.split() == [loaded], ran.stderr


def test_a_short_lived_server_exports_its_red_metrics_at_exit_without_the_sdk(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """Installing obs's server middleware does not load the SDK (start-up); the requests it counts are
    exported when the process ends, still without it."""
    code = (
        "import sys\nimport flask, obs\n"
        "app = flask.Flask('shop')\n"
        "@app.get('/items/<int:item>')\ndef item(item):\n    return {'item': item}\n"
        "client = app.test_client()\n"
        "for number in range(3):\n    assert client.get(f'/items/{number}').status_code == 200\n"
        "obs.shutdown()\n" + SDK_LOADED
    )
    ran = python(code, exporting_to(receiver, **NO_TICK), tmp_path)
    assert ran.stdout.split() == ["False"], ran.stderr
    [requests] = receiver.latest_points("http.server.request.duration")
    assert requests.count == 3 and requests.attributes["http.route"] == "/items/<int:item>"


def _shape(request: ExportMetricsServiceRequest) -> dict[str, Any]:
    """Everything but the values and times: scope, names, units, kinds, temporality, attribute sets."""
    shape: dict[str, Any] = {}
    for resource_metrics in request.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                data = getattr(metric, kind)
                shape[metric.name] = (
                    scope_metrics.scope.name, metric.unit, metric.description, kind,
                    getattr(data, "aggregation_temporality", None), getattr(data, "is_monotonic", None),
                    sorted(repr(sorted((kv.key, str(kv.value)) for kv in point.attributes))
                           for point in data.data_points),
                )
    return shape


def test_process_metrics_sent_without_the_sdk_are_shaped_as_the_sdk_shapes_them() -> None:
    resource = Resource({"service.name": "shop"})
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], resource=resource, shutdown_on_exit=False)
    ProcessMetrics().register(provider.get_meter(catalog.PROCESS_SCOPE))
    collected = reader.get_metrics_data()
    provider.shutdown()
    assert collected is not None
    with_sdk = sdk_encode_metrics(collected)
    request = final_metrics_request(resource, 1, process=True, store=ServerRequests())
    without_sdk = ExportMetricsServiceRequest.FromString(request or b"")
    assert _shape(without_sdk) == _shape(with_sdk)
    assert len(_shape(without_sdk)) == 8
    assert [each.resource for each in without_sdk.resource_metrics] == [
        each.resource for each in with_sdk.resource_metrics]


def _served(store: ServerRequests) -> ServerRequests:
    """Three requests, one failed, one with an exemplar, one still in flight."""
    store.started(("GET", "http"))
    store.finished(("GET", "http"), ("GET", "http", "1.1", 200, "/items", None), 0.004, (7, 9))
    store.started(("GET", "http"))
    store.finished(("GET", "http"), ("GET", "http", "1.1", 500, "/items", "500"), 0.3)
    store.started(("POST", "http"))
    return store


def _without_times(request: ExportMetricsServiceRequest) -> ExportMetricsServiceRequest:
    for resource_metrics in request.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                data = getattr(metric, metric.WhichOneof("data"))
                for point in data.data_points:
                    point.time_unix_nano = 0
                    for exemplar in point.exemplars:
                        exemplar.time_unix_nano = 0
    return request


def test_red_metrics_sent_without_the_sdk_are_what_the_sdk_readers_export() -> None:
    resource = Resource({"service.name": "shop"})
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], resource=resource, shutdown_on_exit=False)
    sdk_store = _served(ServerRequests())
    assert attach_to_reader(reader, lambda: resource, sdk_store)
    collected = reader.get_metrics_data()
    provider.shutdown()
    assert collected is not None
    with_sdk = _without_times(sdk_encode_metrics(collected))
    plain_store = _served(ServerRequests())
    plain_store.start_ns = sdk_store.start_ns
    request = final_metrics_request(resource, 1, process=False, store=plain_store)
    without_sdk = _without_times(ExportMetricsServiceRequest.FromString(request or b""))
    assert without_sdk == with_sdk
    [scope] = without_sdk.resource_metrics[0].scope_metrics
    assert {metric.name for metric in scope.metrics} == {"http.server.request.duration",
                                                        "http.server.active_requests"}
    assert any(point.exemplars for metric in scope.metrics if metric.HasField("histogram")
               for point in metric.histogram.data_points)


def test_an_asgi_middleware_builds_the_sdk_when_it_is_installed(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """Under uvicorn, an SDK built at the first export interval cost the FastAPI example 5-7% of its
    throughput for good (see obs.agent._metrics.lazy_sdk): obs's ASGI middleware builds it as it is
    installed."""
    code = "import sys\nimport fastapi\napp = fastapi.FastAPI()\n" + SDK_LOADED
    ran = python(code, exporting_to(receiver, **NO_TICK), tmp_path)
    assert ran.stdout.split() == ["True"], ran.stderr
