"""The span and log queues' batching limits, read from the environment once, at boot.

The specification names them per signal with the same four suffixes: ``OTEL_BSP_*`` for spans and
``OTEL_BLRP_*`` for log records (``SCHEDULE_DELAY``, ``MAX_QUEUE_SIZE``, ``MAX_EXPORT_BATCH_SIZE``,
``EXPORT_TIMEOUT``). One shape and one reader serve both; :func:`obs.agent._config.check.check` reads them
with the rest of the configuration, so a bad value is one clear line and the agent stays off, before anything
starts. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping

from obs.agent.settings import Frozen, SettingsError, shown

__all__ = ["LOGS", "SPANS", "BatchLimits", "log_limits", "positive_int", "span_limits"]


def positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    """An environment variable that must be a whole number above 0 when set."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        problem = f"expected a whole number above 0, got {shown(raw)}"
        raise SettingsError(name, f"environment variable {name}", problem)
    return int(raw)


class BatchLimits(Frozen):
    """Delay between exports, queue and batch sizes, time one export may take (ms)."""

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

    @property
    def schedule_delay_s(self) -> float:
        return self.schedule_delay_ms / 1000.0

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str], prefix: str = "OTEL_BSP", defaults: BatchLimits | None = None
    ) -> BatchLimits:
        """The ``<prefix>_*`` variables over ``defaults``; a batch never exceeds the queue. SettingsError
        names the first variable that is not a whole number above 0."""
        base = defaults or cls()
        queue = positive_int(environ, f"{prefix}_MAX_QUEUE_SIZE", base.max_queue_size)
        batch = positive_int(environ, f"{prefix}_MAX_EXPORT_BATCH_SIZE", base.max_export_batch_size)
        return cls(
            schedule_delay_ms=positive_int(environ, f"{prefix}_SCHEDULE_DELAY", base.schedule_delay_ms),
            max_queue_size=queue,
            max_export_batch_size=min(batch, queue),
            export_timeout_ms=positive_int(environ, f"{prefix}_EXPORT_TIMEOUT", base.export_timeout_ms),
        )


SPANS = BatchLimits()
"""The specification's span defaults."""
LOGS = BatchLimits(schedule_delay_ms=1000, max_queue_size=65_536, max_export_batch_size=512)
"""obs's log defaults: the queue holds a 50,000-line burst with room to spare (about 300 bytes plus the
message per queued record). The export timeout is the log destination's own; it is read here only to be
checked."""


def span_limits(environ: Mapping[str, str]) -> BatchLimits:
    """``OTEL_BSP_*`` over the specification's defaults."""
    return BatchLimits.from_environment(environ, "OTEL_BSP", SPANS)


def log_limits(environ: Mapping[str, str]) -> BatchLimits:
    """``OTEL_BLRP_*`` over obs's log defaults."""
    return BatchLimits.from_environment(environ, "OTEL_BLRP", LOGS)
