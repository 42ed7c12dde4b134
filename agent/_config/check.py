"""Everything the agent reads beyond :class:`Settings`, checked at boot before anything starts.

The routes (per-signal ``OTEL_EXPORTER_OTLP_*``), the span and log batch limits (``OTEL_BSP_*``,
``OTEL_BLRP_*``), ``OTEL_METRIC_EXPORT_TIMEOUT`` and the sampler name. A bad value is one clear line and an
uninstrumented app, never a half-started agent. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping

from obs.agent._config.limits import BatchLimits, log_limits, positive_int, span_limits
from obs.agent._config.routes import Route, Signal, resolve_routes
from obs.agent.settings import Frozen, Settings, SettingsError, shown

__all__ = ["DEFAULT_SAMPLER", "SAMPLERS", "AgentConfig", "check"]

SAMPLERS = ("always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off",
            "parentbased_traceidratio")
"""The ``OTEL_TRACES_SAMPLER`` values the Python SDK implements without extra packages."""
DEFAULT_SAMPLER = "obs_default"
"""No sampler named: obs's own (obs.agent._traces.sampling), every trace up to 10 a second, 10% beyond."""


def sampler_name(settings: Settings) -> str:
    """The sampler to build; SettingsError for one the SDK does not have."""
    if not settings.traces_sampler:
        return DEFAULT_SAMPLER
    name = settings.traces_sampler.strip().lower()
    if name not in SAMPLERS:
        origin = settings.sources.get("traces_sampler", "settings")
        problem = f"expected one of {', '.join(SAMPLERS)}, got {shown(name)}"
        raise SettingsError("traces_sampler", origin, problem)
    return name


class AgentConfig(Frozen):
    """The checked extras: one route per signal, span and log batch limits, sampler name, metric export
    timeout."""

    _fields = ("routes", "span_limits", "log_limits", "sampler", "metric_export_timeout_ms")
    routes: Mapping[Signal, Route]
    span_limits: BatchLimits
    log_limits: BatchLimits
    sampler: str
    metric_export_timeout_ms: int

    def __init__(
        self, *, routes: Mapping[Signal, Route], span_limits: BatchLimits, log_limits: BatchLimits,
        sampler: str, metric_export_timeout_ms: int,
    ) -> None:
        self._set(routes=routes, span_limits=span_limits, log_limits=log_limits, sampler=sampler,
                  metric_export_timeout_ms=metric_export_timeout_ms)


def check(settings: Settings, environ: Mapping[str, str]) -> AgentConfig:
    """Resolve and check everything; the first bad value raises SettingsError."""
    return AgentConfig(
        routes=resolve_routes(settings, environ),
        span_limits=span_limits(environ),
        log_limits=log_limits(environ),
        sampler=sampler_name(settings),
        metric_export_timeout_ms=positive_int(environ, "OTEL_METRIC_EXPORT_TIMEOUT", 30_000),
    )
