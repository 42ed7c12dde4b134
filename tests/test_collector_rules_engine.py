"""The series and labels the alert rules query are the ones a real PromQL engine holds after the OpenTelemetry
SDK exports over OTLP: names with unit suffixes, `le="0.5"` buckets, `service_name` from the resource.

VictoriaMetrics (DESIGN.md section 7) names OTLP series the way Prometheus 3 does; PROMQL_URL points the test
at another engine.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from obs.agent.catalog import HTTP_SERVER_DURATION, LATENCY_BUCKETS_SECONDS
from obs.collector.rules import LATENCY_SLO_SECONDS, RULES_PATH
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from tests.observability_tree import make_settings, rendered_files
from tests.tools import flush, promql_engine

ROUTE = {"http.request.method": "GET", "http.route": "/items"}


def _export(otlp_url: str, service: str, rounds: int = 1) -> None:
    """80 fast and 20 slow successful requests and 10 fast failures, as the agent's histogram records them,
    exported once per round (a second apart, so that a rate has two samples to work with)."""
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=otlp_url), export_interval_millis=3_600_000
    )
    view = View(
        instrument_name=HTTP_SERVER_DURATION.name,
        aggregation=ExplicitBucketHistogramAggregation(LATENCY_BUCKETS_SECONDS),
    )
    resource = Resource.create({"service.name": service, "service.instance.id": "test-1"})
    provider = MeterProvider(metric_readers=[reader], resource=resource, views=[view])
    histogram = provider.get_meter("test").create_histogram(
        HTTP_SERVER_DURATION.name, unit=HTTP_SERVER_DURATION.unit
    )
    for round_number in range(rounds):
        if round_number:
            time.sleep(1.5)
        for seconds, status, times in ((0.1, 200, 80), (1.0, 200, 20), (0.1, 500, 10)):
            for _ in range(times):
                failed = {"error.type": str(status)} if status >= 500 else {}
                histogram.record(seconds, {**ROUTE, "http.response.status_code": status, **failed})
        assert provider.force_flush(timeout_millis=10_000)
    provider.shutdown()


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with promql_engine(tmp_path_factory.mktemp("engine")) as (query_url, otlp_url):
        _export(otlp_url, "shop")
        _export(otlp_url, "cart", rounds=2)  # the span-to-metrics queries take rates: two samples
        deadline = time.monotonic() + 20
        count = HTTP_SERVER_DURATION.series("count")
        ready = (
            f'{count}{{service_name="shop"}}',
            f'count_over_time({count}{{service_name="cart", http_response_status_code="500"}}[5m]) >= 2',
        )
        flush(query_url)
        while not all(_query(query_url, expression) for expression in ready):
            assert time.monotonic() < deadline, "the exported samples never became queryable"
            time.sleep(0.2)
            flush(query_url)
        yield query_url


def _query(base: str, expression: str) -> list[dict[str, object]]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expression})}"
    with urllib.request.urlopen(url, timeout=10) as answer:
        body = json.load(answer)
    assert body["status"] == "success", body
    result: list[dict[str, object]] = body["data"]["result"]
    return result


def _value(base: str, expression: str) -> float:
    (sample,) = _query(base, expression)
    value = sample["value"]
    assert isinstance(value, list)
    return float(value[1])


def test_latency_slo_bucket_and_count_exist_under_the_names_the_rules_use(engine: str) -> None:
    """The `le` bucket the SLO reads holds the fast requests; the count holds them all."""
    bucket = HTTP_SERVER_DURATION.series("bucket")
    count = HTTP_SERVER_DURATION.series("count")
    fast = f'sum by (service_name) ({bucket}{{service_name="shop", le="{LATENCY_SLO_SECONDS:g}"}})'
    assert _value(engine, fast) == 90
    assert _value(engine, f'sum by (service_name) ({count}{{service_name="shop"}})') == 110


def test_status_code_label_separates_server_errors(engine: str) -> None:
    """The error-ratio rule's `error_type!=""` matcher finds the failures (the agent sets error.type for a 5xx
    or an exception, never for a 4xx)."""
    count = HTTP_SERVER_DURATION.series("count")
    assert _value(engine, f'sum({count}{{service_name="shop", error_type!=""}})') == 10


def test_no_telemetry_expression_is_quiet_for_a_reporting_service(engine: str, tmp_path: Path) -> None:
    """The rule file's own absent_over_time expression finds shop's series, and fires for a silent service."""
    rules = yaml.safe_load(rendered_files(make_settings(tmp_path, service_name="shop"))[RULES_PATH])
    (expression,) = [
        rule["expr"]
        for group in rules["groups"]
        for rule in group["rules"]
        if rule.get("alert") == "ObsNoTelemetry"
    ]
    assert _query(engine, expression) == []
    silent = re.sub(r'service_name="shop"', 'service_name="ghost"', expression)
    (fired,) = _query(engine, silent)
    assert fired["metric"] == {"service_name": "ghost"}


def _as_grafana_runs(query: str, span_tags: dict[str, str]) -> str:
    """A span-to-metrics query as Grafana runs it: provisioning turns `$$` into `$`, then the span link puts
    the span's mapped tags where `$__tags` is."""
    expanded = query.replace("$$", "$")
    return expanded.replace("$__tags", ", ".join(f'{key}="{value}"' for key, value in span_tags.items()))


def test_span_to_metrics_queries_answer_for_the_spans_service_and_route(engine: str, tmp_path: Path) -> None:
    """The Tempo datasource's provisioned queries, filled in for a span of cart's GET /items, return that
    route's request rate, its error ratio (10 of 110) and a p95 in the bucket of the slow requests."""
    files = rendered_files(make_settings(tmp_path, service_name="cart"))
    sources = yaml.safe_load(files["grafana/provisioning/datasources/obs.yaml"])["datasources"]
    (tempo,) = [source for source in sources if source["type"] == "tempo"]
    links = tempo["jsonData"]["tracesToMetrics"]
    span = {"service.name": "cart", "http.route": ROUTE["http.route"]}
    labels = {tag["value"]: span[tag["key"]] for tag in links["tags"]}
    queries = {item["name"]: _as_grafana_runs(item["query"], labels) for item in links["queries"]}
    assert _value(engine, queries["Request rate"]) > 0
    assert _value(engine, queries["Error ratio"]) == pytest.approx(10 / 110)
    assert 0.75 < _value(engine, queries["Latency p95"]) <= 1.0
    other = {**labels, "http_route": "/elsewhere"}
    assert _query(engine, _as_grafana_runs(links["queries"][0]["query"], other)) == []
