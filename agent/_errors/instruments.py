"""The groups as metrics: three observable instruments of the catalog, made once the SDK is built.

Registered at the process's first failure (:func:`register`), so a process that never fails neither builds
the metrics SDK for them nor sends their series. A forked worker inherits a parent's registration; its own
groups start empty.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from obs.agent import catalog
from obs.agent._errors.groups import groups
from opentelemetry.metrics import CallbackOptions, Observation

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider

__all__ = ["ATTRIBUTES", "observe", "register"]

ATTRIBUTES = catalog.ERROR_GROUP_ATTRIBUTES
"""The group's attributes, in :data:`~obs.agent._errors.groups.GroupKey` order."""

_registered_for: list[object] = []
_lock = threading.Lock()


def _attributes(key: tuple[str, str, str]) -> dict[str, str]:
    return dict(zip(ATTRIBUTES, key, strict=True))


def _counts(options: CallbackOptions) -> Iterable[Observation]:
    return [Observation(group.count, _attributes(key)) for key, group in groups().snapshot()]


def _first_seen(options: CallbackOptions) -> Iterable[Observation]:
    return [Observation(group.first_ns / 1e9, _attributes(key)) for key, group in groups().snapshot()]


def _last_seen(options: CallbackOptions) -> Iterable[Observation]:
    return [
        Observation(group.last_ns / 1e9,
                    {**_attributes(key), "trace_id": f"{group.trace_id:032x}" if group.trace_id else ""})
        for key, group in groups().snapshot()
    ]


def observe(provider: SdkMeterProvider) -> None:
    """Make the instruments on ``provider``."""
    meter = provider.get_meter("obs.agent")
    counted, first, last = catalog.ERRORS, catalog.ERRORS_FIRST_SEEN, catalog.ERRORS_LAST_SEEN
    meter.create_observable_counter(counted.name, [_counts], unit=counted.unit,
                                    description=counted.description)
    meter.create_observable_gauge(first.name, [_first_seen], unit=first.unit, description=first.description)
    meter.create_observable_gauge(last.name, [_last_seen], unit=last.unit, description=last.description)


def register() -> None:
    """Have the instruments made (now if the SDK is built, else when it is), once per metrics pipeline (a
    forked worker shares its parent's)."""
    from obs.agent._metrics.lazy_sdk import current

    metrics = current()
    with _lock:
        if metrics is None or any(seen is metrics for seen in _registered_for):
            return
        _registered_for[:] = [metrics]
    metrics.when_built(observe)
