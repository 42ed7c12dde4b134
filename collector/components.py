"""Component type names that collector-contrib :data:`~obs.collector.images.COLLECTOR_VERSION` reads.

The Collector moved to ``lower_snake_case`` type names in 2026 and keeps the old names as deprecated aliases
for a while: ``otlp`` -> ``otlp_grpc`` and ``otlphttp`` -> ``otlp_http`` for exporters (core 0.144.0),
``resourcedetection`` -> ``resource_detection`` (contrib 0.153.0). Some names are gone altogether (the
``logging`` and ``loki`` exporters). ``obs check`` uses these tables to flag a config that would not start, or
that starts with deprecation warnings, and the generator only emits names from :data:`KNOWN`.

The lists hold the components obs emits plus the ones people commonly add; a name outside them is reported as
unknown, so that a typo is caught before the container fails to start. Where a rename is announced but obs
cannot tell whether the pinned release already has it, both spellings are accepted.
"""

from __future__ import annotations

from typing import Final, Literal

from obs.collector.images import COLLECTOR_VERSION

__all__ = ["DEPRECATED", "KINDS", "KNOWN", "REMOVED", "Kind", "base_type", "verdict"]

Kind = Literal["receivers", "processors", "exporters", "extensions", "connectors"]

KINDS: Final[tuple[Kind, ...]] = ("receivers", "processors", "exporters", "extensions", "connectors")


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


KNOWN: Final[dict[Kind, frozenset[str]]] = {
    "receivers": _names(
        "otlp otlpjsonfile prometheus host_metrics filelog docker_stats k8s_cluster k8s_objects "
        "kubeletstats jaeger zipkin httpcheck journald syslog fluentforward nop"
    ),
    "processors": _names(
        "memory_limiter batch resource_detection resource attributes transform redaction filter "
        "k8sattributes tail_sampling probabilistic_sampler groupbyattrs span cumulativetodelta "
        "cumulative_to_delta deltatocumulative metricstransform"
    ),
    "exporters": _names("otlp_grpc otlp_http debug file prometheus prometheusremotewrite nop"),
    "extensions": _names(
        "health_check pprof zpages basicauth bearertokenauth headers_setter oauth2client file_storage"
    ),
    "connectors": _names("forward spanmetrics servicegraph count routing"),
}
"""Type names valid (and not deprecated) in the pinned release, by section."""

DEPRECATED: Final[dict[tuple[Kind, str], str]] = {
    ("exporters", "otlp"): "otlp_grpc",
    ("exporters", "otlphttp"): "otlp_http",
    ("processors", "resourcedetection"): "resource_detection",
    ("receivers", "hostmetrics"): "host_metrics",
    ("receivers", "k8sobjects"): "k8s_objects",
}
"""(section, old name) -> the name to use instead; the old one still loads, with a warning."""

REMOVED: Final[dict[tuple[Kind, str], str]] = {
    ("exporters", "logging"): "use `debug`",
    ("exporters", "loki"): "use `otlp_http` with Loki's `/otlp` endpoint",
    ("processors", "spanmetrics"): "use the `spanmetrics` connector",
}
"""(section, name) -> what to use instead; the collector refuses to start with these."""


def base_type(component_id: str) -> str:
    """``otlp_http/loki`` -> ``otlp_http``: the type part of a component id."""
    return component_id.split("/", 1)[0]


def verdict(kind: Kind, component_id: str) -> tuple[str, str] | None:
    """None when the pinned collector reads this component; otherwise (what is wrong, what to do)."""
    name = base_type(component_id)
    release = f"collector-contrib {COLLECTOR_VERSION}"
    if (kind, name) in REMOVED:
        return f"{kind[:-1]} `{name}` no longer exists in {release}", REMOVED[(kind, name)]
    if (kind, name) in DEPRECATED:
        return (
            f"{kind[:-1]} `{name}` is a deprecated alias in {release}",
            f"rename it `{DEPRECATED[(kind, name)]}`",
        )
    if name not in KNOWN[kind]:
        return f"{kind[:-1]} type `{name}` is unknown to {release} as obs knows it", "check the spelling"
    return None
