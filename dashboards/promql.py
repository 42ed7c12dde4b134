"""PromQL derived from the telemetry catalog, so that no panel names a series or a label by hand.

A :class:`Metric` wraps one :class:`~obs.agent.catalog.Instrument`. Series names come from
:meth:`Instrument.series`, label names from :func:`~obs.agent.catalog.label`, and every attribute a query
groups or filters by must be one the instrument really carries (or a promoted resource attribute): a typo
fails when the dashboard is built, not as an empty panel in Grafana.

Every query is scoped to the dashboard's template variables ``$service``, ``$environment`` and
``$instance`` (see :mod:`obs.dashboards.variables`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from obs.agent.catalog import PROMOTED_RESOURCE_ATTRIBUTES, Instrument, Kind, label, series_names

__all__ = [
    "ENVIRONMENT",
    "INSTANCE",
    "RATE_WINDOW",
    "SERVICE",
    "STATUS_CLASS",
    "Match",
    "Metric",
    "legend",
    "or_zero",
    "resource_matchers",
    "sending",
]

SERVICE, INSTANCE, ENVIRONMENT = "service.name", "service.instance.id", "deployment.environment.name"
"""The resource attributes the dashboards filter on; the PromQL engine has them as promoted labels."""

RATE_WINDOW: Final = "$__rate_interval"
"""Grafana's window for ``rate()``: at least four scrape (export) intervals, so rates never come out empty."""

STATUS_CLASS: Final = "http_status_class"
"""Label made by :meth:`Metric.rate_by_status_class` from the status code: ``2xx``, ``4xx``, ``5xx``."""

Operator = Literal["=", "!=", "=~", "!~"]
_COUNTED = (Kind.COUNTER, Kind.OBSERVABLE_COUNTER)
_GAUGES = (Kind.GAUGE, Kind.OBSERVABLE_GAUGE, Kind.UP_DOWN_COUNTER, Kind.OBSERVABLE_UP_DOWN_COUNTER)

if set(PROMOTED_RESOURCE_ATTRIBUTES) != {SERVICE, INSTANCE, ENVIRONMENT}:  # pragma: no cover - catalog drift
    raise ImportError("obs.dashboards.promql expects the catalog to promote service, instance, environment")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Match:
    """One label matcher on an instrument attribute, e.g. ``Match("error.type", "!=", "")`` for failures."""

    attribute: str
    op: Operator
    value: str

    def render(self) -> str:
        return f"{label(self.attribute)}{self.op}{_quote(self.value)}"


def resource_matchers() -> tuple[str, ...]:
    """The matchers that scope a query to the dashboard's service, environment and instances."""
    return (
        f'{label(SERVICE)}="$service"',
        f'{label(ENVIRONMENT)}=~"$environment"',
        f'{label(INSTANCE)}=~"$instance"',
    )


def sending() -> str:
    """1 while the service sends any series of the catalog, nothing when it sends none: the reference that
    turns "nothing failed" into 0 without turning "the app sends nothing" into 0 too."""
    names = "|".join(series_names())
    return f'group({{__name__=~"{names}", {", ".join(resource_matchers())}}})'


def or_zero(expr: str, reference: str) -> str:
    """``expr``, plus a 0 for every series of ``reference`` it lacks (same labels): a rate or ratio of
    something that can be zero reads 0, not "No data", while ``reference`` (the traffic, or
    :func:`sending`) shows the app is there; with no ``reference`` either, it stays empty."""
    return f"({expr}) or ({reference} * 0)"


def legend(*attributes: str) -> str:
    """A Grafana legend that shows the given attributes' labels: ``{{http_route}}``."""
    return " ".join("{{" + label(attribute) + "}}" for attribute in attributes)


def _by(labels: Sequence[str]) -> str:
    """`` by (a, b) `` before an aggregation's argument, or nothing."""
    return f" by ({', '.join(labels)}) " if labels else ""


@dataclass(frozen=True)
class Metric:
    """Queries over one instrument of the catalog, restricted by ``where`` matchers on its attributes."""

    instrument: Instrument
    where: tuple[Match, ...] = ()

    def __post_init__(self) -> None:
        for match in self.where:
            self._check(match.attribute)

    def _check(self, attribute: str) -> str:
        """The label of ``attribute``; a ValueError when the instrument does not carry that attribute."""
        known = (*self.instrument.attributes, *PROMOTED_RESOURCE_ATTRIBUTES)
        if attribute not in known:
            raise ValueError(
                f"`{attribute}` is not an attribute of {self.instrument.name}; use one of {', '.join(known)}"
            )
        return label(attribute)

    def _labels(self, attributes: Sequence[str]) -> list[str]:
        return [self._check(attribute) for attribute in attributes]

    def filtered(self, *matches: Match) -> Metric:
        """The same metric with more matchers."""
        return Metric(self.instrument, (*self.where, *matches))

    def selector(self, suffix: str = "") -> str:
        """``name{service_name="$service", ...}``; ``suffix`` picks a histogram's bucket, count or sum."""
        matchers = (*resource_matchers(), *(match.render() for match in self.where))
        return f"{self.instrument.series(suffix)}{{{', '.join(matchers)}}}"

    def _per_second(self) -> str:
        if self.instrument.kind is Kind.HISTOGRAM:
            return f"rate({self.selector('count')}[{RATE_WINDOW}])"
        if self.instrument.kind in _COUNTED:
            return f"rate({self.selector()}[{RATE_WINDOW}])"
        kind = self.instrument.kind.value
        raise ValueError(f"{self.instrument.name} ({kind}) has no rate; use value()")

    def rate(self, by: Sequence[str] = ()) -> str:
        """Events per second: requests for a duration histogram, increments for a counter."""
        return f"sum{_by(self._labels(by))}({self._per_second()})"

    def ratio(self, match: Match, by: Sequence[str] = ()) -> str:
        """The share (0..1) of :meth:`rate` that also satisfies ``match``: 0 where none does, no series
        where there is no traffic at all."""
        total = self.rate(by)
        return or_zero(f"{self.filtered(match).rate(by)} / {total}", total)

    def rate_or_zero(self, by: Sequence[str] = ()) -> str:
        """:meth:`rate` of something that can be zero (failures, drops): 0 while the service sends anything
        else; by attributes, 0 comes as one series without them."""
        return or_zero(self.rate(by), sending())

    def increase(self, window: str, by: Sequence[str] = ()) -> str:
        """How much a counter grew over ``window`` (e.g. ``$__range``), summed over the other labels."""
        if self.instrument.kind not in _COUNTED:
            raise ValueError(f"{self.instrument.name} ({self.instrument.kind.value}) is not a counter")
        return f"sum{_by(self._labels(by))}(increase({self.selector()}[{window}]))"

    def quantile(self, q: float, by: Sequence[str] = ()) -> str:
        """The ``q`` quantile of a histogram over the rate window, e.g. ``0.95`` for p95."""
        if self.instrument.kind is not Kind.HISTOGRAM:
            raise ValueError(f"{self.instrument.name} is not a histogram: it has no quantiles")
        if not 0.0 < q < 1.0:
            raise ValueError(f"quantile {q} is outside (0, 1)")
        grouping = _by(["le", *self._labels(by)])
        return f"histogram_quantile({q:g}, sum{grouping}(rate({self.selector('bucket')}[{RATE_WINDOW}])))"

    def mean(self, by: Sequence[str] = ()) -> str:
        """A histogram's mean over the rate window: sum of values over count."""
        if self.instrument.kind is not Kind.HISTOGRAM:
            raise ValueError(f"{self.instrument.name} is not a histogram: it has no mean")
        grouping = _by(self._labels(by))
        return (
            f"sum{grouping}(rate({self.selector('sum')}[{RATE_WINDOW}]))"
            f" / sum{grouping}(rate({self.selector('count')}[{RATE_WINDOW}]))"
        )

    def value(self, by: Sequence[str] = (), aggregate: Literal["sum", "max", "avg"] = "sum") -> str:
        """The current value of a gauge or up-down counter, aggregated over the other labels."""
        if self.instrument.kind not in _GAUGES:
            raise ValueError(
                f"{self.instrument.name} ({self.instrument.kind.value}) has no current value; use rate()"
            )
        return f"{aggregate}{_by(self._labels(by))}({self.selector()})"

    def rate_by_status_class(self, status_attribute: str = "http.response.status_code") -> str:
        """Events per second by HTTP status class (``2xx``...), in the :data:`STATUS_CLASS` label."""
        source = self._check(status_attribute)
        classed = (
            f'label_replace({self._per_second()}, "{STATUS_CLASS}", "${{1}}xx", "{source}", "([0-9]).*")'
        )
        return f"sum{_by([STATUS_CLASS])}({classed})"
