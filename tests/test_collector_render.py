"""obs.collector.render: the files of observability/ and the properties each must have."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from obs.agent.catalog import DATASOURCE_UIDS, HTTP_SERVER_DURATION, PROMOTED_RESOURCE_ATTRIBUTES
from obs.collector import IMAGES, PROFILES, render
from obs.collector.components import KNOWN, base_type
from obs.collector.config import PIPELINE_PROCESSORS, profile_path

from tests.observability_tree import make_settings

CONTRACT_PATHS = {
    "collector/config.yaml",
    "compose.yaml",
    "prometheus/prometheus.yml",
    "prometheus/rules/obs-alerts.yaml",
    "grafana/provisioning/datasources/obs.yaml",
    "grafana/provisioning/dashboards/obs.yaml",
    "tempo/tempo.yaml",
    "loki/loki.yaml",
    "README.md",
}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    return render(make_settings(tmp_path, service_name="shop"))


def _yaml(files: dict[str, str], path: str) -> Any:
    return yaml.safe_load(files[path])


def test_render_returns_every_file_of_the_contract_and_no_dashboards(files: dict[str, str]) -> None:
    """render() covers the contract's paths (and one config per collector profile), and no dashboards/."""
    assert set(files) >= CONTRACT_PATHS
    assert {profile_path(profile) for profile in PROFILES} <= set(files)
    assert not any(path.startswith("dashboards/") for path in files)
    assert all(text.endswith("\n") for text in files.values())


def test_render_is_deterministic(tmp_path: Path) -> None:
    """The same settings give byte-identical files, so `obs init` can compare with what is on disk."""
    settings = make_settings(tmp_path, service_name="shop")
    assert render(settings) == render(settings)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_pipeline_runs_memory_limiter_first_and_batch_last(files: dict[str, str], profile: str) -> None:
    """Each profile's pipelines use the same processor chain, bounded by memory_limiter and batch."""
    config = _yaml(files, profile_path(profile))  # type: ignore[arg-type]
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"traces", "metrics", "logs"}
    for pipeline in pipelines.values():
        assert pipeline["processors"] == list(PIPELINE_PROCESSORS)
        assert pipeline["processors"][0] == "memory_limiter" and pipeline["processors"][-1] == "batch"
        for section in ("receivers", "processors", "exporters"):
            assert set(pipeline[section]) <= set(config[section])


@pytest.mark.parametrize("profile", PROFILES)
def test_components_use_names_the_pinned_collector_reads(files: dict[str, str], profile: str) -> None:
    """Only current (not deprecated, not removed) component types are emitted, and health_check is started."""
    config = _yaml(files, profile_path(profile))  # type: ignore[arg-type]
    for kind in ("receivers", "processors", "exporters", "extensions"):
        for component_id in config[kind]:
            assert base_type(component_id) in KNOWN[kind], component_id
    assert config["service"]["extensions"] == ["health_check"]
    assert config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "0.0.0.0:4318"


def test_local_profile_sends_each_signal_to_its_backend(files: dict[str, str]) -> None:
    """Metrics go to Prometheus's OTLP endpoint, traces to Tempo, logs to Loki's native OTLP endpoint."""
    config = _yaml(files, "collector/config.yaml")
    pipelines, exporters = config["service"]["pipelines"], config["exporters"]
    assert exporters[pipelines["metrics"]["exporters"][0]]["endpoint"] == "http://prometheus:9090/api/v1/otlp"
    assert exporters[pipelines["traces"]["exporters"][0]]["endpoint"] == "tempo:4317"
    assert exporters[pipelines["logs"]["exporters"][0]]["endpoint"] == "http://loki:3100/otlp"


def test_remote_profiles_read_endpoint_and_credentials_from_the_environment(files: dict[str, str]) -> None:
    """The gateway and otlp profiles carry no endpoint or secret of their own: only ${env:VAR} references."""
    gateway = _yaml(files, "collector/gateway.yaml")["exporters"]["otlp_grpc/gateway"]
    assert gateway["endpoint"] == "${env:OBS_GATEWAY_ENDPOINT}"
    vendor = _yaml(files, "collector/otlp.yaml")["exporters"]["otlp_http/vendor"]
    assert vendor["endpoint"] == "${env:OBS_OTLP_ENDPOINT}"
    assert vendor["headers"] == {"Authorization": "${env:OBS_OTLP_AUTHORIZATION}"}


def test_compose_pins_official_images_binds_localhost_and_keeps_data_in_volumes(
    files: dict[str, str],
) -> None:
    """Every image has an exact tag, every published port is on 127.0.0.1, and data lives in named volumes."""
    compose = _yaml(files, "compose.yaml")
    assert compose["name"] == "obs-shop"
    images = {service["image"] for service in compose["services"].values()}
    assert images == set(IMAGES.values())
    assert all(":" in image and not image.endswith(":latest") for image in images)
    ports = [port for service in compose["services"].values() for port in service.get("ports", [])]
    assert ports and all(port.startswith("127.0.0.1:") for port in ports)
    named = {
        volume.split(":")[0]
        for service in compose["services"].values()
        for volume in service.get("volumes", [])
        if not volume.startswith("./")
    }
    assert named == set(compose["volumes"])


def test_compose_turns_on_prometheus_otlp_receiver(files: dict[str, str]) -> None:
    """Prometheus 3 accepts OTLP only with --web.enable-otlp-receiver; exemplars need their feature flag."""
    prometheus = _yaml(files, "compose.yaml")["services"]["prometheus"]
    assert prometheus["image"].startswith("prom/prometheus:v3.")
    assert "--web.enable-otlp-receiver" in prometheus["command"]
    assert "--enable-feature=exemplar-storage" in prometheus["command"]


def test_prometheus_promotes_the_resource_attributes_dashboards_filter_on(files: dict[str, str]) -> None:
    """service.name and friends become labels (service_name), and the rule files are loaded."""
    config = _yaml(files, "prometheus/prometheus.yml")
    assert config["otlp"]["promote_resource_attributes"] == list(PROMOTED_RESOURCE_ATTRIBUTES)
    assert {"service.name", "service.instance.id", "deployment.environment.name"} <= set(
        config["otlp"]["promote_resource_attributes"]
    )
    assert config["rule_files"] == ["rules/*.yaml"]


def test_grafana_datasources_have_fixed_uids_and_are_linked(files: dict[str, str]) -> None:
    """Exemplars lead to Tempo, Tempo's trace-to-logs to Loki, and Loki's trace_id field back to Tempo."""
    sources = {
        item["uid"]: item for item in _yaml(files, "grafana/provisioning/datasources/obs.yaml")["datasources"]
    }
    metrics, traces, logs = (DATASOURCE_UIDS[key] for key in ("metrics", "traces", "logs"))
    assert set(sources) == {metrics, traces, logs}
    assert sources[metrics]["jsonData"]["exemplarTraceIdDestinations"][0]["datasourceUid"] == traces
    assert sources[traces]["jsonData"]["tracesToLogsV2"]["datasourceUid"] == logs
    derived = sources[logs]["jsonData"]["derivedFields"][0]
    assert (derived["datasourceUid"], derived["matcherRegex"]) == (traces, "trace_id")


def test_grafana_template_variables_are_escaped_in_provisioning(files: dict[str, str]) -> None:
    """Grafana expands ${...} in provisioning files, so its own variables are written $${...}."""
    text = files["grafana/provisioning/datasources/obs.yaml"]
    assert "$${__value.raw}" in text
    assert "${__" not in text.replace("$${__", "")


def test_dashboard_provider_reads_the_mounted_dashboards_folder(files: dict[str, str]) -> None:
    """The provider's path is where compose.yaml mounts observability/dashboards/."""
    provider = _yaml(files, "grafana/provisioning/dashboards/obs.yaml")["providers"][0]
    grafana = _yaml(files, "compose.yaml")["services"]["grafana"]
    assert f"./dashboards:{provider['options']['path']}:ro" in grafana["volumes"]


def test_alert_rules_query_series_named_from_the_catalog(files: dict[str, str]) -> None:
    """The rules use the catalog's Prometheus names, scoped to the service."""
    groups = _yaml(files, "prometheus/rules/obs-alerts.yaml")["groups"]
    alerts = {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}
    assert set(alerts) == {
        "ObsHighErrorRatio",
        "ObsLatencyBudgetFastBurn",
        "ObsLatencyBudgetSlowBurn",
        "ObsNoTelemetry",
    }
    assert HTTP_SERVER_DURATION.series("count") in alerts["ObsHighErrorRatio"]["expr"]
    assert 'service_name="shop"' in alerts["ObsNoTelemetry"]["expr"]


def test_service_names_with_odd_characters_stay_valid(tmp_path: Path) -> None:
    """A service name with quotes and spaces gives a valid compose project name and PromQL string."""
    files = render(make_settings(tmp_path, service_name='My "Shop" API'))
    assert yaml.safe_load(files["compose.yaml"])["name"] == "obs-my-shop-api"
    assert 'service_name="My \\"Shop\\" API"' in files["prometheus/rules/obs-alerts.yaml"]
