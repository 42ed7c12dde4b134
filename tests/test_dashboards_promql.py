"""obs.dashboards.promql: queries derived from catalog instruments, refusing what one cannot answer."""

from __future__ import annotations

import pytest
from obs.agent.catalog import HTTP_SERVER_ACTIVE_REQUESTS, HTTP_SERVER_DURATION, PROCESS_CPU_TIME
from obs.dashboards.promql import Match, Metric, legend

SCOPE = (
    'service_name="$service", deployment_environment_name=~"$environment", service_instance_id=~"$instance"'
)


def test_selector_scopes_to_the_dashboard_variables() -> None:
    """Every series is scoped to $service, $environment and $instance, then to its own matchers (escaped)."""
    metric = Metric(HTTP_SERVER_DURATION, (Match("http.route", "=", 'say "hi"'),))
    assert metric.selector("count") == (
        f'http_server_request_duration_seconds_count{{{SCOPE}, http_route="say \\"hi\\""}}'
    )


def test_rates_quantiles_and_ratios() -> None:
    """Histograms count requests from _count and quantiles from _bucket; a ratio divides matched by all."""
    requests = Metric(HTTP_SERVER_DURATION)
    assert requests.rate(by=["http.route"]) == (
        f"sum by (http_route) (rate(http_server_request_duration_seconds_count{{{SCOPE}}}[$__rate_interval]))"
    )
    assert requests.quantile(0.95).startswith("histogram_quantile(0.95, sum by (le) (rate(")
    assert "_bucket{" in requests.quantile(0.5)
    numerator, denominator = requests.ratio(Match("error.type", "!=", "")).split(" / ")
    assert 'error_type!=""' in numerator and "error_type" not in denominator
    assert (
        Metric(PROCESS_CPU_TIME).rate()
        == f"sum(rate(process_cpu_time_seconds_total{{{SCOPE}}}[$__rate_interval]))"
    )


def test_status_class_is_derived_from_the_status_code() -> None:
    """Requests by status class group on a label made from the first digit of the status code."""
    query = Metric(HTTP_SERVER_DURATION).rate_by_status_class()
    assert query.startswith("sum by (http_status_class) (label_replace(rate(")
    assert '"http_status_class", "${1}xx", "http_response_status_code", "([0-9]).*")' in query


def test_unknown_attributes_are_refused() -> None:
    """Grouping or filtering on an attribute the instrument does not carry fails, listing the known ones."""
    with pytest.raises(
        ValueError,
        match=r"`http\.rout` is not an attribute of http\.server\.request\.duration; "
        r"use one of http\.request\.method, http\.route",
    ):
        Metric(HTTP_SERVER_DURATION).rate(by=["http.rout"])
    with pytest.raises(ValueError, match=r"`db\.system\.name` is not an attribute"):
        Metric(HTTP_SERVER_DURATION, (Match("db.system.name", "=", "sqlite"),))


def test_kind_mismatches_are_refused() -> None:
    """A gauge has no rate, a counter no current value, only histograms have quantiles (within 0..1)."""
    with pytest.raises(ValueError, match=r"\(up_down_counter\) has no rate"):
        Metric(HTTP_SERVER_ACTIVE_REQUESTS).rate()
    with pytest.raises(ValueError, match=r"use rate\(\)"):
        Metric(PROCESS_CPU_TIME).value()
    with pytest.raises(ValueError, match="not a histogram"):
        Metric(PROCESS_CPU_TIME).quantile(0.9)
    with pytest.raises(ValueError, match="outside"):
        Metric(HTTP_SERVER_DURATION).quantile(95)


def test_legend_names_the_labels() -> None:
    """A legend shows each attribute's label value."""
    assert legend("http.route", "service.instance.id") == "{{http_route}} {{service_instance_id}}"
