"""Meters handed out before the metrics SDK is built, whose instruments build it at their first measurement.

Why: instrumentations ask for their meter and make their instruments when they are applied, at the app's
import (``requests``, ``urllib``, ``httpx``...), and the app may do the same at module level. Building the SDK
then would put its import (see :mod:`obs.agent._metrics.lazy_sdk`) back into the start-up of every
real app. Here a synchronous instrument becomes the SDK's at its first ``add``/``record``/``set``, so nothing
it measures is lost; an observable instrument is made on the SDK's meter when the SDK is built, as its
callbacks only run at a collection, which needs the SDK anyway.

Unlike the API's own proxy meters, which drop what is measured before a provider
is set, these never drop: the SDK exists before the first measurement reaches it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from obs.agent._compat import Gauge, NoOpGauge
from opentelemetry.metrics import (
    CallbackT,
    Counter,
    Histogram,
    Meter,
    NoOpCounter,
    NoOpHistogram,
    NoOpObservableCounter,
    NoOpObservableGauge,
    NoOpObservableUpDownCounter,
    NoOpUpDownCounter,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.util.types import Attributes

if TYPE_CHECKING:
    from opentelemetry.context import Context

__all__ = ["MeterOnFirstUse"]

_NO_OP: dict[str, Callable[[str], Any]] = {
    "create_counter": NoOpCounter,
    "create_up_down_counter": NoOpUpDownCounter,
    "create_histogram": NoOpHistogram,
    "create_gauge": NoOpGauge,
}


class MeterOnFirstUse(Meter):
    """One meter of the API's global provider before the SDK's is built.

    ``real`` gives the SDK's meter of the same name, building the SDK if need be (None once the agent has
    stopped); ``on_build`` registers a function to run with the SDK's meter as soon as it exists.
    """

    def __init__(
        self,
        name: str,
        version: str | None,
        schema_url: str | None,
        real: Callable[[], Meter | None],
        on_build: Callable[[Callable[[Meter], object]], None],
    ) -> None:
        super().__init__(name, version=version, schema_url=schema_url)
        self._real = real
        self._on_build = on_build

    def real(self) -> Meter | None:
        return self._real()

    def create_counter(self, name: str, unit: str = "", description: str = "") -> Counter:
        return _CounterOnFirstUse(self, "create_counter", name, unit=unit, description=description)

    def create_up_down_counter(self, name: str, unit: str = "", description: str = "") -> UpDownCounter:
        return _UpDownCounterOnFirstUse(self, "create_up_down_counter", name, unit=unit,
                                        description=description)

    def create_histogram(
        self,
        name: str,
        unit: str = "",
        description: str = "",
        *,
        explicit_bucket_boundaries_advisory: Sequence[float] | None = None,
    ) -> Histogram:
        extra = ({} if explicit_bucket_boundaries_advisory is None
                 else {"explicit_bucket_boundaries_advisory": explicit_bucket_boundaries_advisory})
        return _HistogramOnFirstUse(self, "create_histogram", name, unit=unit, description=description,
                                    **extra)

    def create_gauge(self, name: str, unit: str = "", description: str = "") -> Gauge:
        return _GaugeOnFirstUse(self, "create_gauge", name, unit=unit, description=description)

    def create_observable_counter(
        self, name: str, callbacks: Sequence[CallbackT] | None = None, unit: str = "", description: str = ""
    ) -> ObservableCounter:
        self._observe("create_observable_counter", name, callbacks, unit, description)
        return NoOpObservableCounter(name, callbacks, unit=unit, description=description)

    def create_observable_gauge(
        self, name: str, callbacks: Sequence[CallbackT] | None = None, unit: str = "", description: str = ""
    ) -> ObservableGauge:
        self._observe("create_observable_gauge", name, callbacks, unit, description)
        return NoOpObservableGauge(name, callbacks, unit=unit, description=description)

    def create_observable_up_down_counter(
        self, name: str, callbacks: Sequence[CallbackT] | None = None, unit: str = "", description: str = ""
    ) -> ObservableUpDownCounter:
        self._observe("create_observable_up_down_counter", name, callbacks, unit, description)
        return NoOpObservableUpDownCounter(name, callbacks, unit=unit, description=description)

    def _observe(
        self, create: str, name: str, callbacks: Sequence[CallbackT] | None, unit: str, description: str
    ) -> None:
        """The observable instrument is made on the SDK's meter when it is built (its callbacks run then)."""
        self._on_build(
            lambda meter: getattr(meter, create)(name, callbacks, unit=unit, description=description)
        )


class _OnFirstUse:
    """A synchronous instrument: the SDK's own from its first measurement on."""

    def __init__(self, meter: MeterOnFirstUse, create: str, name: str, **options: Any) -> None:
        self._meter = meter
        self._create = create
        self._name = name
        self._options = options
        self._instrument: Any = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def unit(self) -> str:
        return str(self._options.get("unit", ""))

    @property
    def description(self) -> str:
        return str(self._options.get("description", ""))

    def _resolved(self) -> Any:
        instrument = self._instrument
        if instrument is None:
            real = self._meter.real()
            instrument = self._instrument = (
                getattr(real, self._create)(self._name, **self._options) if real is not None
                else _NO_OP[self._create](self._name)
            )
        return instrument


class _CounterOnFirstUse(_OnFirstUse, Counter):
    def add(self, amount: int | float, attributes: Attributes | None = None, context: Context | None = None,
            ) -> None:
        self._resolved().add(amount, attributes, context)


class _UpDownCounterOnFirstUse(_OnFirstUse, UpDownCounter):
    def add(self, amount: int | float, attributes: Attributes | None = None, context: Context | None = None,
            ) -> None:
        self._resolved().add(amount, attributes, context)


class _HistogramOnFirstUse(_OnFirstUse, Histogram):
    def record(self, amount: int | float, attributes: Attributes | None = None,
               context: Context | None = None) -> None:
        self._resolved().record(amount, attributes, context)


class _GaugeOnFirstUse(_OnFirstUse, Gauge):
    def set(self, amount: int | float, attributes: Attributes | None = None, context: Context | None = None,
            ) -> None:
        self._resolved().set(amount, attributes, context)
