"""Component type names that collector-contrib :data:`~obs.collector.images.COLLECTOR_VERSION` reads.

The Collector moved to ``lower_snake_case`` type names in 2026 (collector#14208) and keeps the old names as
deprecated aliases for a while (``WithDeprecatedTypeAlias``: the old name still loads, with a warning). obs
accepts an alias and says in a note which name replaces it; it refuses only names the collector refuses.

Where each name was checked, for release 0.154.0:

- core: ``metadata.yaml`` of each component at the collector's ``v0.154.0`` tag (``type``,
  ``deprecated_type``): receivers ``otlp`` ``nop``; processors ``batch`` ``memory_limiter``; exporters
  ``otlp_grpc`` (alias ``otlp``), ``otlp_http`` (alias ``otlphttp``), ``debug``, ``nop``; extension
  ``zpages``; connector ``forward``. There is no ``logging`` exporter in that tree.
- contrib: contrib's sources at the tag could not be read here (the repository is over the size that can be
  fetched, and the file index holds only old versions of the ``metadata.yaml`` files). The names rest on the
  test ``TestDefaultComponents`` of signalfx/splunk-otel-collector at its ``v0.154.0`` tag, whose ``go.mod``
  pins every contrib module at v0.154.0: it asserts each factory's ``Type()`` and each deprecated alias that
  the core's ``MakeFactoryMap`` registers, with exact counts (so a name missing there is no alias). That
  covers every contrib name below except ``otlpjsonfile``, the ``prometheus`` exporter (both load at 0.154.0
  in sumologic-otel-collector's tests, which do not say whether the name is the current one),
  ``deltatocumulative`` and the service-graph connector (whose rename, contrib#47971, obs could not date):
  for the last one both spellings are accepted without a word.
- ``loki`` exporter and ``spanmetrics`` processor: removed long before 0.154.0 (not re-checked at the tag).

``obs check`` uses these tables to flag a config that would not start, and to note one that starts with
deprecation warnings; the generator only emits names from :data:`KNOWN`. The lists hold the components obs
emits plus the ones people commonly add; a name outside them is reported as unknown, so that a typo is caught
before the container fails to start.
"""

from __future__ import annotations

from typing import Final, Literal

from obs.collector.images import COLLECTOR_VERSION

__all__ = ["DEPRECATED", "KINDS", "KNOWN", "REMOVED", "Kind", "alias_note", "base_type", "verdict"]

Kind = Literal["receivers", "processors", "exporters", "extensions", "connectors"]

KINDS: Final[tuple[Kind, ...]] = ("receivers", "processors", "exporters", "extensions", "connectors")


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


KNOWN: Final[dict[Kind, frozenset[str]]] = {
    "receivers": _names(
        "otlp otlpjsonfile prometheus host_metrics file_log docker_stats k8s_cluster k8s_objects "
        "kubelet_stats jaeger zipkin http_check journald syslog fluent_forward nop"
    ),
    "processors": _names(
        "memory_limiter batch resource_detection resource attributes transform redaction filter "
        "k8s_attributes tail_sampling probabilistic_sampler groupbyattrs span cumulativetodelta "
        "deltatocumulative metrics_transform"
    ),
    "exporters": _names("otlp_grpc otlp_http debug file prometheus prometheus_remote_write nop"),
    "extensions": _names(
        "health_check pprof zpages basicauth bearertokenauth headers_setter oauth2client file_storage"
    ),
    "connectors": _names("forward span_metrics service_graph servicegraph count routing"),
}
"""Type names valid (and not deprecated) in the pinned release, by section."""

DEPRECATED: Final[dict[tuple[Kind, str], str]] = {
    ("exporters", "otlp"): "otlp_grpc",
    ("exporters", "otlphttp"): "otlp_http",
    ("exporters", "prometheusremotewrite"): "prometheus_remote_write",
    ("processors", "resourcedetection"): "resource_detection",
    ("processors", "k8sattributes"): "k8s_attributes",
    ("processors", "metricstransform"): "metrics_transform",
    ("receivers", "hostmetrics"): "host_metrics",
    ("receivers", "k8sobjects"): "k8s_objects",
    ("receivers", "filelog"): "file_log",
    ("receivers", "kubeletstats"): "kubelet_stats",
    ("receivers", "httpcheck"): "http_check",
    ("receivers", "fluentforward"): "fluent_forward",
    ("connectors", "spanmetrics"): "span_metrics",
}
"""(section, old name) -> the name to use instead; the old one still loads, with a warning."""

REMOVED: Final[dict[tuple[Kind, str], str]] = {
    ("exporters", "logging"): "use `debug`",
    ("exporters", "loki"): "use `otlp_http` with Loki's `/otlp` endpoint",
    ("processors", "spanmetrics"): "use the `span_metrics` connector",
}
"""(section, name) -> what to use instead; the collector refuses to start with these."""


def base_type(component_id: str) -> str:
    """``otlp_http/loki`` -> ``otlp_http``: the type part of a component id."""
    return component_id.split("/", 1)[0]


def verdict(kind: Kind, component_id: str) -> tuple[str, str] | None:
    """None when the pinned collector starts with this component; otherwise (what is wrong, what to do).

    A deprecated alias starts (with a warning), so it gets None here and a line from :func:`alias_note`.
    """
    name = base_type(component_id)
    release = f"collector-contrib {COLLECTOR_VERSION}"
    if (kind, name) in REMOVED:
        return f"{kind[:-1]} `{name}` no longer exists in {release}", REMOVED[(kind, name)]
    if (kind, name) in DEPRECATED:
        return None
    if name not in KNOWN[kind]:
        return f"{kind[:-1]} type `{name}` is unknown to {release} as obs knows it", "check the spelling"
    return None


def alias_note(kind: Kind, component_id: str) -> str | None:
    """What to say about a deprecated alias (it loads, with a warning in the collector's log); else None."""
    name = base_type(component_id)
    new = DEPRECATED.get((kind, name))
    if new is None:
        return None
    return (
        f"{kind[:-1]} `{name}` is a deprecated alias of `{new}` in collector-contrib {COLLECTOR_VERSION}: "
        f"it still loads, with a warning; rename it `{new}` before the alias is removed"
    )
