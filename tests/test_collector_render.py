"""obs.collector.render: the files of observability/ and the properties each must have."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from obs.agent.catalog import (
    DATASOURCE_UIDS,
    ERRORS,
    HTTP_SERVER_DURATION,
    PROMOTED_RESOURCE_ATTRIBUTES,
    TASK_QUEUE_WAIT,
    TASK_RUNS,
)
from obs.collector import IMAGES, PROFILES, render
from obs.collector.components import DEPRECATED, KNOWN, alias_note, base_type, verdict
from obs.collector.config import ENDPOINT_VARIABLES, PIPELINE_PROCESSORS, profile_path
from obs.collector.grafana import ALERTMANAGER_UID

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
    "alertmanager/alertmanager.yml",
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
    assert set(sources) == {metrics, traces, logs, ALERTMANAGER_UID}
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
        "ObsNewErrorGroup",
        "ObsNoTelemetry",
        "ObsTaskFailureRatio",
        "ObsTaskQueueWait",
    }
    records = {rule["record"]: rule for group in groups for rule in group["rules"] if "record" in rule}
    assert alerts["ObsHighErrorRatio"]["expr"].split("{")[0] in records
    ratio = records[alerts["ObsHighErrorRatio"]["expr"].split("{")[0]]
    assert HTTP_SERVER_DURATION.series("count") in ratio["expr"]
    assert ERRORS.prometheus in alerts["ObsNewErrorGroup"]["expr"]
    assert TASK_RUNS.prometheus in alerts["ObsTaskFailureRatio"]["expr"]
    assert TASK_QUEUE_WAIT.series("bucket") in alerts["ObsTaskQueueWait"]["expr"]
    assert 'service_name="shop"' in alerts["ObsNoTelemetry"]["expr"]


def test_service_names_with_odd_characters_stay_valid(tmp_path: Path) -> None:
    """A service name with quotes and spaces gives a valid compose project name and PromQL string."""
    files = render(make_settings(tmp_path, service_name='My "Shop" API'))
    assert yaml.safe_load(files["compose.yaml"])["name"] == "obs-my-shop-api"
    assert 'service_name="My \\"Shop\\" API"' in files["prometheus/rules/obs-alerts.yaml"]


def test_exemplars_link_to_tempo_under_both_trace_id_labels(files: dict[str, str]) -> None:
    """The app's histograms label exemplars `trace_id`, Tempo's span metrics `traceID`: both lead to Tempo."""
    sources = {
        item["uid"]: item for item in _yaml(files, "grafana/provisioning/datasources/obs.yaml")["datasources"]
    }
    destinations = sources[DATASOURCE_UIDS["metrics"]]["jsonData"]["exemplarTraceIdDestinations"]
    assert {item["name"]: item["datasourceUid"] for item in destinations} == {
        "trace_id": DATASOURCE_UIDS["traces"],
        "traceID": DATASOURCE_UIDS["traces"],
    }


def test_span_to_metrics_links_have_queries_for_the_service_and_route(files: dict[str, str]) -> None:
    """Grafana draws no span-to-metrics link without queries: rate, error ratio and latency, each filtered by
    `$__tags` (written `$$__tags` in provisioning), which maps the span's service and route to labels."""
    sources = {
        item["uid"]: item for item in _yaml(files, "grafana/provisioning/datasources/obs.yaml")["datasources"]
    }
    links = sources[DATASOURCE_UIDS["traces"]]["jsonData"]["tracesToMetrics"]
    assert links["datasourceUid"] == DATASOURCE_UIDS["metrics"]
    assert {(tag["key"], tag["value"]) for tag in links["tags"]} == {
        ("service.name", "service_name"),
        ("http.route", "http_route"),
    }
    queries = {query["name"]: query["query"] for query in links["queries"]}
    count, bucket = HTTP_SERVER_DURATION.series("count"), HTTP_SERVER_DURATION.series("bucket")
    assert queries == {
        "Request rate": f"sum(rate({count}{{$$__tags}}[5m]))",
        "Error ratio": f'sum(rate({count}{{$$__tags, error_type!=""}}[5m]))'
        f" / sum(rate({count}{{$$__tags}}[5m]))",
        "Latency p95": f"histogram_quantile(0.95, sum by (le) (rate({bucket}{{$$__tags}}[5m])))",
    }


def test_no_one_shot_container_under_up_wait(files: dict[str, str]) -> None:
    """`docker compose up --wait` fails when a container exits: every service keeps running, no tempo-init."""
    services = _yaml(files, "compose.yaml")["services"]
    assert "tempo-init" not in services
    assert all(service.get("restart") == "unless-stopped" for service in services.values())
    assert "depends_on" not in services["tempo"]
    assert "tempo-data:/var/tempo" in services["tempo"]["volumes"]


def test_grafana_is_the_newest_11_6_patch_obs_knows_of(files: dict[str, str]) -> None:
    """11.6.0 has CVE-2025-2703 and CVE-2025-3260 (fixed in 11.6.1): the pin is a later 11.6 patch."""
    image = _yaml(files, "compose.yaml")["services"]["grafana"]["image"]
    name, tag = image.split(":")
    assert name == "grafana/grafana"
    major, minor, patch = map(int, tag.split("."))
    assert (major, minor) == (11, 6) and patch >= 16


def test_alerts_go_from_prometheus_to_alertmanager_and_a_receiver_to_fill(files: dict[str, str]) -> None:
    """Prometheus sends firing alerts to the stack's Alertmanager, which routes them to one receiver that
    the file's header tells the user how to fill; Grafana can show Alertmanager's alerts and silences."""
    prometheus = _yaml(files, "prometheus/prometheus.yml")
    managers = prometheus["alerting"]["alertmanagers"]
    assert managers == [{"static_configs": [{"targets": ["alertmanager:9093"]}]}]
    compose = _yaml(files, "compose.yaml")["services"]["alertmanager"]
    assert compose["image"] == IMAGES["alertmanager"]
    assert "./alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro" in compose["volumes"]
    assert compose["ports"] == ["127.0.0.1:9093:9093"]
    text = files["alertmanager/alertmanager.yml"]
    config = yaml.safe_load(text)
    assert config["route"]["receiver"] == "obs-team"
    assert config["receivers"] == [{"name": "obs-team"}]
    assert "# Alertmanager routes every alert to the receiver `obs-team`, which notifies nobody" in text
    assert "#       webhook_configs:" in text
    readme = files["README.md"]
    assert "alertmanager/alertmanager.yml" in readme and "notifies nobody" in readme


def test_readme_names_each_remote_profiles_endpoint_variable(files: dict[str, str]) -> None:
    """The README says which variable each remote profile needs and what happens without it."""
    readme = files["README.md"]
    for variable in ENDPOINT_VARIABLES.values():
        assert f"`{variable}`" in readme
    assert 'requires a non-empty "endpoint"' in readme


RENAMES = [(kind, old, new) for (kind, old), new in DEPRECATED.items()]


@pytest.mark.parametrize(("kind", "old", "new"), RENAMES)
def test_renamed_components_accept_the_new_name_and_the_deprecated_alias(
    kind: str, old: str, new: str
) -> None:
    """Each rename at 0.154.0: the new name is known; the old one loads with a warning, so it passes with a
    note that names the new one."""
    assert new in KNOWN[kind]  # type: ignore[index]
    assert old not in KNOWN[kind]  # type: ignore[index]
    assert verdict(kind, f"{new}/x") is None  # type: ignore[arg-type]
    assert alias_note(kind, f"{new}/x") is None  # type: ignore[arg-type]
    assert verdict(kind, f"{old}/x") is None  # type: ignore[arg-type]
    note = alias_note(kind, f"{old}/x")  # type: ignore[arg-type]
    assert note is not None and note.endswith(f"rename it `{new}` before the alias is removed")


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("processors", "k8s_attributes"),
        ("processors", "resource_detection"),
        ("processors", "metrics_transform"),
        ("receivers", "host_metrics"),
        ("receivers", "file_log"),
        ("exporters", "prometheus_remote_write"),
        ("connectors", "span_metrics"),
    ],
)
def test_current_names_at_0_154_pass_without_a_word(kind: str, name: str) -> None:
    """Names that splunk-otel-collector's component test at its v0.154.0 tag (contrib v0.154.0) asserts as
    the factories' types."""
    assert verdict(kind, name) is None  # type: ignore[arg-type]
    assert alias_note(kind, name) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "name"), [("processors", "cumulative_to_delta"), ("exporters", "otlpgrpc")])
def test_names_the_pinned_release_does_not_have_are_unknown(kind: str, name: str) -> None:
    """``cumulativetodelta`` was not renamed by 0.154.0 (no alias either), so the snake-case spelling would
    stop the collector from starting."""
    problem = verdict(kind, name)  # type: ignore[arg-type]
    assert problem is not None and "is unknown to collector-contrib 0.154.0" in problem[0]


def test_the_service_graph_connector_accepts_both_spellings() -> None:
    """Its rename (contrib#47971) could not be dated against 0.154.0: both spellings pass without a word."""
    for name in ("servicegraph", "service_graph"):
        assert verdict("connectors", name) is None
        assert alias_note("connectors", name) is None
