"""Where each signal goes: settings plus the per-signal OTEL_EXPORTER_OTLP_<SIGNAL>_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from obs.agent._config.check import check
from obs.agent._config.limits import BatchLimits
from obs.agent._config.routes import resolve_routes
from obs.agent.settings import SettingsError, load_settings


def test_defaults_fall_back_when_nothing_is_named(tmp_path: Path) -> None:
    """Nothing configured: OTLP/HTTP to localhost:4318 per signal, and a fallback to files is allowed."""
    routes = resolve_routes(load_settings(environ={}, cwd=tmp_path), {})
    assert routes["metrics"].url == "http://localhost:4318/v1/metrics"
    assert all(route.may_fall_back and route.protocol == "http/protobuf" for route in routes.values())


def test_per_signal_overrides(tmp_path: Path) -> None:
    """Per-signal endpoint, protocol, headers, timeout (ms) and compression apply to their signal only; a
    named endpoint (base or per signal) never falls back to files."""
    environ = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
        "OTEL_EXPORTER_OTLP_HEADERS": "a=1",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:9000/custom",
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS": "b=2",
        "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT": "1500",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
    }
    routes = resolve_routes(load_settings(environ=environ, cwd=tmp_path), environ)
    assert routes["traces"].url == "http://traces:9000/custom"
    assert routes["logs"].protocol == "grpc" and routes["logs"].url == "http://collector:4318"
    assert routes["metrics"].headers == (("a", "1"), ("b", "2")) and routes["traces"].headers == (("a", "1"),)
    assert routes["metrics"].timeout == 1.5 and routes["traces"].timeout == 10.0
    assert {route.compression for route in routes.values()} == {"gzip"}
    assert not any(route.may_fall_back for route in routes.values())


def test_grpc_default_port(tmp_path: Path) -> None:
    """OTLP/gRPC without an endpoint goes to localhost:4317."""
    environ = {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    routes = resolve_routes(load_settings(environ=environ, cwd=tmp_path), environ)
    assert routes["traces"].url == "http://localhost:4317"


@pytest.mark.parametrize(("variable", "value"), [
    ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
    ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "-1"),
    ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "novalue"),
    ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli"),
    ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0"),
    ("OTEL_BLRP_SCHEDULE_DELAY", "1s"),
    ("OTEL_METRIC_EXPORT_TIMEOUT", "x"),
])
def test_bad_values_name_the_variable(tmp_path: Path, variable: str, value: str) -> None:
    """Each bad value is a SettingsError naming its variable and showing the value, except headers, whose
    values may hold a credential: their message shows the right form instead."""
    environ = {variable: value}
    with pytest.raises(SettingsError) as raised:
        check(load_settings(environ=environ, cwd=tmp_path), environ)
    assert raised.value.origin == f"environment variable {variable}"
    if variable.endswith("HEADERS"):
        assert value not in str(raised.value) and "Authorization=Bearer <token>" in str(raised.value)
    else:
        assert repr(value) in str(raised.value)


def test_bad_endpoint_url(tmp_path: Path) -> None:
    """An endpoint that is not an http(s) URL names the setting and where it came from."""
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}
    with pytest.raises(SettingsError) as raised:
        check(load_settings(environ=environ, cwd=tmp_path), environ)
    assert raised.value.setting == "endpoint"
    assert raised.value.origin == "environment variable OTEL_EXPORTER_OTLP_ENDPOINT"


def test_span_batch_limits(tmp_path: Path) -> None:
    """OTEL_BSP_* give the span queue's limits; a batch never exceeds the queue."""
    limits = BatchLimits.from_environment({
        "OTEL_BSP_MAX_QUEUE_SIZE": "100",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "500",
        "OTEL_BSP_SCHEDULE_DELAY": "250",
    })
    assert (limits.max_queue_size, limits.max_export_batch_size, limits.schedule_delay_ms) == (100, 100, 250)
    assert BatchLimits.from_environment({}) == BatchLimits(5000, 2048, 512, 30000)


def test_span_and_log_limits_are_read_by_one_reader(tmp_path: Path) -> None:
    """The checked configuration carries both queues' limits: OTEL_BSP_* for spans, OTEL_BLRP_* for logs,
    the same four suffixes over each signal's defaults (obs keeps a larger log queue)."""
    environ = {"OTEL_BSP_SCHEDULE_DELAY": "250", "OTEL_BLRP_MAX_QUEUE_SIZE": "100",
               "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "500", "OTEL_BLRP_EXPORT_TIMEOUT": "700"}
    config = check(load_settings(environ=environ, cwd=tmp_path), environ)
    assert config.span_limits == BatchLimits(250, 2048, 512, 30000)
    assert config.log_limits == BatchLimits(1000, 100, 100, 700)
