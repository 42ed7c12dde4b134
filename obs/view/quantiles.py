"""Percentiles, two ways: interpolated within histogram buckets, and exact from a list of durations.

The bucket interpolation is Prometheus' ``histogram_quantile``: find the bucket holding the rank and assume
the values spread evenly inside it. OTLP points also carry the smallest and largest value, which narrow the
first and the overflow bucket (Prometheus would return the highest finite bound there).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Buckets", "exact_quantile"]


@dataclass(frozen=True)
class Buckets:
    """Explicit buckets: ``counts[i]`` values in ``(bounds[i-1], bounds[i]]``, the last one above all."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    min: float | None = None
    max: float | None = None

    @property
    def total(self) -> int:
        return sum(self.counts)

    def minus(self, earlier: Buckets) -> Buckets:
        """What was added since ``earlier`` (same cumulative series); the window's min and max are unknown."""
        if earlier.bounds != self.bounds:
            return self
        added = tuple(max(0, a - b) for a, b in zip(self.counts, earlier.counts, strict=True))
        return Buckets(self.bounds, added)

    def plus(self, other: Buckets) -> Buckets:
        """Both histograms as one. Equal bounds add up bucket by bucket; otherwise each count goes to the
        bucket of the union of bounds that shares its upper bound."""
        low = _least(self.min, other.min)
        high = _most(self.max, other.max)
        if other.bounds == self.bounds:
            counts = tuple(a + b for a, b in zip(self.counts, other.counts, strict=True))
            return Buckets(self.bounds, counts, low, high)
        bounds = tuple(sorted(set(self.bounds) | set(other.bounds)))
        merged = [0] * (len(bounds) + 1)
        for source in (self, other):
            for index, count in enumerate(source.counts):
                upper = source.bounds[index] if index < len(source.bounds) else math.inf
                merged[bisect.bisect_left(bounds, upper)] += count
        return Buckets(bounds, tuple(merged), low, high)

    def quantile(self, q: float) -> float | None:
        """The q-quantile (0 < q < 1), or None for an empty histogram."""
        total = self.total
        if total == 0 or len(self.counts) != len(self.bounds) + 1:
            return None
        rank = q * total
        seen = 0
        for index, count in enumerate(self.counts):
            if count == 0 or seen + count < rank:
                seen += count
                continue
            lower, upper = self._edges(index)
            return lower + (upper - lower) * (rank - seen) / count
        return self.max if self.max is not None else (self.bounds[-1] if self.bounds else None)

    def _edges(self, index: int) -> tuple[float, float]:
        if index == len(self.bounds):  # overflow bucket: up to the largest value seen, if known
            lower = self.bounds[-1] if self.bounds else 0.0
            return lower, self.max if self.max is not None else lower
        upper = self.bounds[index]
        lower = self.bounds[index - 1] if index > 0 else min(0.0, upper)
        if self.min is not None and lower < self.min <= upper:
            lower = self.min
        if self.max is not None and lower <= self.max < upper:
            upper = self.max
        return lower, upper


def _least(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _most(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def exact_quantile(ordered: Sequence[float], q: float) -> float | None:
    """The q-quantile of sorted values, interpolating between the two nearest ranks."""
    if not ordered:
        return None
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)
