"""The OpenTelemetry Collector config, in three profiles that share one processing chain.

- ``local``: the compose stack; metrics to Prometheus's OTLP endpoint, traces to Tempo, logs to Loki's OTLP
  endpoint, all by their compose service names.
- ``gateway``: a collector next to the app (an "agent") that forwards everything over OTLP/gRPC to a central
  collector at ``${env:OBS_GATEWAY_ENDPOINT}``, for when one machine is no longer enough.
- ``otlp``: straight to any vendor's OTLP/HTTP endpoint (Grafana Cloud and the like), with the endpoint
  and the ``Authorization`` header read from the environment, never written into the file.

Every pipeline runs ``memory_limiter`` first (it must see data before anything buffers it), then resource
detection and the redaction of sensitive attributes, and ``batch`` last (so that batches are what leave).
"""

from __future__ import annotations

from typing import Any, Final, Literal

__all__ = [
    "ENDPOINT_VARIABLES",
    "PIPELINE_PROCESSORS",
    "PROFILES",
    "Profile",
    "collector_config",
    "profile_path",
]

Profile = Literal["local", "gateway", "otlp"]

PROFILES: Final[tuple[Profile, ...]] = ("local", "gateway", "otlp")

ENDPOINT_VARIABLES: Final[dict[Profile, str]] = {
    "gateway": "OBS_GATEWAY_ENDPOINT",
    "otlp": "OBS_OTLP_ENDPOINT",
}
"""The variable each remote profile reads its exporter endpoint from: the collector refuses to start
(``requires a non-empty "endpoint"``) while it is unset or empty."""

_SIGNALS = ("traces", "metrics", "logs")

PIPELINE_PROCESSORS: Final[tuple[str, ...]] = (
    "memory_limiter",
    "resource_detection",
    "attributes/redact",
    "transform/redact",
    "batch",
)
"""Processor ids of every pipeline, in order."""

_SENSITIVE_HEADERS = (
    r"(?i)^http\.(request|response)\.header\."
    r"(authorization|proxy[-_]authorization|cookie|set[-_]cookie|x[-_]api[-_]key|x[-_]auth[-_]token)$"
)
"""Captured HTTP headers that carry credentials (Python instrumentations write ``-`` as ``_``)."""

_USERINFO_ATTRIBUTES = ("url.full", "http.url", "db.connection_string")
_QUERY_ATTRIBUTES = ("url.full", "http.url", "url.query")
_URL_USERINFO = '"://[^/@]+@"'
_URL_SECRET_PARAMS = (
    '"(?i)((^|[?&])(access_token|api_key|apikey|auth|key|password|passwd|secret|sig|signature|token)=)[^&#]*"'
)


def profile_path(profile: Profile) -> str:
    """Where a profile's config lives under observability/; compose reads ``collector/config.yaml``)."""
    return "collector/config.yaml" if profile == "local" else f"collector/{profile}.yaml"


def _receivers() -> dict[str, Any]:
    # Inside a container, localhost is the container itself: bind every interface.
    return {
        "otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"}, "http": {"endpoint": "0.0.0.0:4318"}}}
    }


def _url_statements(context: str) -> list[str]:
    """OTTL that masks ``user:password@`` in URLs and secret-looking query parameters."""
    statements = []
    for attribute in _USERINFO_ATTRIBUTES:
        target = f'{context}.attributes["{attribute}"]'
        statements.append(f'replace_pattern({target}, {_URL_USERINFO}, "://REDACTED@") where {target} != nil')
    for attribute in _QUERY_ATTRIBUTES:
        target = f'{context}.attributes["{attribute}"]'
        # `$$` is the collector's escape for a literal `$`: the regexp sees `${1}`, the kept `name=` part.
        statements.append(
            f'replace_pattern({target}, {_URL_SECRET_PARAMS}, "$${{1}}REDACTED") where {target} != nil'
        )
    return statements


def _processors(profile: Profile) -> dict[str, Any]:
    # In the compose stack the collector's own host is a container: describing it would mislabel the app.
    detectors = ["env"] if profile == "local" else ["env", "system"]
    return {
        "memory_limiter": {"check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 25},
        "resource_detection": {"detectors": detectors, "override": False},
        "attributes/redact": {"actions": [{"pattern": _SENSITIVE_HEADERS, "action": "delete"}]},
        "transform/redact": {
            "error_mode": "ignore",
            "trace_statements": _url_statements("span"),
            "log_statements": _url_statements("log"),
        },
        "batch": {"send_batch_size": 8192, "timeout": "5s"},
    }


def _exporters(profile: Profile) -> dict[str, dict[str, Any]]:
    if profile == "local":
        return {
            "otlp_grpc/tempo": {"endpoint": "tempo:4317", "tls": {"insecure": True}},
            "otlp_http/prometheus": {"endpoint": "http://prometheus:9090/api/v1/otlp"},
            "otlp_http/loki": {"endpoint": "http://loki:3100/otlp"},
        }
    if profile == "gateway":
        return {
            "otlp_grpc/gateway": {
                "endpoint": f"${{env:{ENDPOINT_VARIABLES['gateway']}}}",
                "tls": {"insecure": "${env:OBS_GATEWAY_INSECURE:-false}"},
                "sending_queue": {"enabled": True, "queue_size": 5000},
                "retry_on_failure": {"enabled": True, "max_elapsed_time": "300s"},
            },
        }
    return {
        "otlp_http/vendor": {
            "endpoint": f"${{env:{ENDPOINT_VARIABLES['otlp']}}}",
            "headers": {"Authorization": "${env:OBS_OTLP_AUTHORIZATION}"},
            "sending_queue": {"enabled": True},
            "retry_on_failure": {"enabled": True},
        },
    }


def _exporter_for(profile: Profile, signal: str) -> str:
    if profile == "local":
        return {"traces": "otlp_grpc/tempo", "metrics": "otlp_http/prometheus", "logs": "otlp_http/loki"}[
            signal
        ]
    return "otlp_grpc/gateway" if profile == "gateway" else "otlp_http/vendor"


def collector_config(profile: Profile) -> dict[str, Any]:
    """The collector config for one profile, as a mapping ready to be written as YAML.

    It takes no settings: the collector serves any app, and each app names itself in its resource attributes.
    """
    pipelines = {
        signal: {
            "receivers": ["otlp"],
            "processors": list(PIPELINE_PROCESSORS),
            "exporters": [_exporter_for(profile, signal)],
        }
        for signal in _SIGNALS
    }
    return {
        "extensions": {"health_check": {"endpoint": "0.0.0.0:13133"}},
        "receivers": _receivers(),
        "processors": _processors(profile),
        "exporters": _exporters(profile),
        "service": {
            "extensions": ["health_check"],
            "pipelines": pipelines,
            "telemetry": {"logs": {"level": "info"}},
        },
    }
