"""Component type names that collector-contrib :data:`~obs.collector.images.COLLECTOR_VERSION` reads.

The Collector moved to ``lower_snake_case`` type names in 2026 (collector#14208) and keeps the old names as
deprecated aliases for a while (``WithDeprecatedTypeAlias``: the old name still loads, with a warning).
Renames checked against the upstream pull requests that made them:

- core 0.144.0: exporters ``otlp`` -> ``otlp_grpc`` (core#14403), ``otlphttp`` -> ``otlp_http`` (core#14397);
- contrib, merged well before 0.154.0: processors ``k8sattributes`` -> ``k8s_attributes`` (#45901, 2026-02-05)
  and ``resourcedetection`` -> ``resource_detection`` (#48525, 2026-05-19);
- contrib, merged but at a date obs could not pin to a release: processor ``metricstransform`` ->
  ``metrics_transform`` (#47960), connector ``servicegraph`` -> ``service_graph`` (#47971).

The contrib sources at the v0.154.0 tag could not be read here (the repository is too large to fetch), so the
renames rest on those pull requests, not on the tag itself. Where obs cannot tell whether the pinned release
already has a rename (the last two above), both spellings are accepted without a word.
Some names are gone altogether (the ``logging`` and ``loki`` exporters). ``obs check`` uses these tables to
flag a config that would not start, or that starts with deprecation warnings, and the generator only emits
names from :data:`KNOWN`.

The lists hold the components obs emits plus the ones people commonly add; a name outside them is reported as
unknown, so that a typo is caught before the container fails to start.
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
        "k8s_attributes tail_sampling probabilistic_sampler groupbyattrs span cumulativetodelta "
        "cumulative_to_delta deltatocumulative metrics_transform metricstransform"
    ),
    "exporters": _names("otlp_grpc otlp_http debug file prometheus prometheusremotewrite nop"),
    "extensions": _names(
        "health_check pprof zpages basicauth bearertokenauth headers_setter oauth2client file_storage"
    ),
    "connectors": _names("forward spanmetrics service_graph servicegraph count routing"),
}
"""Type names valid (and not deprecated) in the pinned release, by section."""

DEPRECATED: Final[dict[tuple[Kind, str], str]] = {
    ("exporters", "otlp"): "otlp_grpc",
    ("exporters", "otlphttp"): "otlp_http",
    ("processors", "resourcedetection"): "resource_detection",
    ("processors", "k8sattributes"): "k8s_attributes",
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
