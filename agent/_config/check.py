"""Everything the agent reads beyond :class:`Settings`, checked before anything starts.

The routes (per-signal ``OTEL_EXPORTER_OTLP_*``), the span batch limits (``OTEL_BSP_*``), the log batch
limits (``OTEL_BLRP_*``, applied by the logs bridge), ``OTEL_METRIC_EXPORT_TIMEOUT`` and the sampler name.
``obs run`` calls :func:`check` before it starts the app, and the agent again in the app's process, so a bad
value is one clear line and an uninstrumented app, never a half-started agent. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping

from obs.agent._config.routes import Route, Signal, resolve_routes
from obs.agent.settings import Frozen, Settings, SettingsError

__all__ = ["DEFAULT_SAMPLER", "SAMPLERS", "AgentConfig", "BatchLimits", "check"]

SAMPLERS = ("always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off",
            "parentbased_traceidratio")
"""The ``OTEL_TRACES_SAMPLER`` values the Python SDK implements without extra packages."""
DEFAULT_SAMPLER = "obs_default"
"""No sampler named: obs's own (obs.agent._traces.sampling), every trace up to 10 a second, 10% beyond."""

_BLRP = ("OTEL_BLRP_MAX_QUEUE_SIZE", "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "OTEL_BLRP_SCHEDULE_DELAY",
         "OTEL_BLRP_EXPORT_TIMEOUT")


def positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    """An environment variable that must be a whole number above 0 when set."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        problem = f"expected a whole number above 0, got {raw!r}"
        raise SettingsError(name, f"environment variable {name}", problem)
    return int(raw)


class BatchLimits(Frozen):
    """``OTEL_BSP_*``: delay between exports, queue and batch sizes, time one export may take (ms)."""

    _fields = ("schedule_delay_ms", "max_queue_size", "max_export_batch_size", "export_timeout_ms")
    schedule_delay_ms: int
    max_queue_size: int
    max_export_batch_size: int
    export_timeout_ms: int

    def __init__(
        self,
        schedule_delay_ms: int = 5000,
        max_queue_size: int = 2048,
        max_export_batch_size: int = 512,
        export_timeout_ms: int = 30000,
    ) -> None:
        self._set(schedule_delay_ms=schedule_delay_ms, max_queue_size=max_queue_size,
                  max_export_batch_size=max_export_batch_size, export_timeout_ms=export_timeout_ms)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> BatchLimits:
        defaults = cls()
        queue = positive_int(environ, "OTEL_BSP_MAX_QUEUE_SIZE", defaults.max_queue_size)
        return cls(
            schedule_delay_ms=positive_int(environ, "OTEL_BSP_SCHEDULE_DELAY", defaults.schedule_delay_ms),
            max_queue_size=queue,
            max_export_batch_size=min(
                positive_int(environ, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", defaults.max_export_batch_size), queue
            ),
            export_timeout_ms=positive_int(environ, "OTEL_BSP_EXPORT_TIMEOUT", defaults.export_timeout_ms),
        )


def sampler_name(settings: Settings) -> str:
    """The sampler to build; SettingsError for one the SDK does not have."""
    if not settings.traces_sampler:
        return DEFAULT_SAMPLER
    name = settings.traces_sampler.strip().lower()
    if name not in SAMPLERS:
        origin = settings.sources.get("traces_sampler", "settings")
        raise SettingsError("traces_sampler", origin, f"expected one of {', '.join(SAMPLERS)}, got {name!r}")
    return name


class AgentConfig(Frozen):
    """The checked extras: one route per signal, span batch limits, sampler name, metric export timeout."""

    _fields = ("routes", "span_limits", "sampler", "metric_export_timeout_ms")
    routes: Mapping[Signal, Route]
    span_limits: BatchLimits
    sampler: str
    metric_export_timeout_ms: int

    def __init__(
        self, *, routes: Mapping[Signal, Route], span_limits: BatchLimits, sampler: str,
        metric_export_timeout_ms: int,
    ) -> None:
        self._set(routes=routes, span_limits=span_limits, sampler=sampler,
                  metric_export_timeout_ms=metric_export_timeout_ms)


def check(settings: Settings, environ: Mapping[str, str]) -> AgentConfig:
    """Resolve and check everything; the first bad value raises SettingsError."""
    routes = resolve_routes(settings, environ)
    limits = BatchLimits.from_environment(environ)
    for name in _BLRP:
        positive_int(environ, name, 1)
    return AgentConfig(
        routes=routes, span_limits=limits, sampler=sampler_name(settings),
        metric_export_timeout_ms=positive_int(environ, "OTEL_METRIC_EXPORT_TIMEOUT", 30_000),
    )
