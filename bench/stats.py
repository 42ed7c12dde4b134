"""Medians and ratios over rounds. Pure functions: samples in, figures out.

Ratios to plain are paired by round (each round's instrumented run against the same round's plain run) and
then the median is taken, so a burst of background load that hits one round does not tilt the ratio.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.wrk import LoadResult

SIGNALS = ("traces", "metrics", "logs")


@dataclass(frozen=True)
class Round:
    """One app in one mode for one round: what wrk saw and what the worker weighed afterwards."""

    app: str
    mode: str
    index: int
    load: LoadResult
    rss_mib: float
    exported: Mapping[str, int]
    """Bytes the peer received during the round, per signal (traces, metrics, logs)."""


@dataclass(frozen=True)
class Summary:
    """Medians over the rounds of one app in one mode, with ratios to the plain app where it applies."""

    app: str
    mode: str
    rounds: int
    throughput: float
    p50_ms: float
    p99_ms: float
    rss_mib: float
    failures: int
    exported_kib: dict[str, float]
    throughput_ratio: float | None
    p99_ratio: float | None
    rss_added_mib: float | None


def median(values: Sequence[float]) -> float:
    """The median; ValueError on no values (a figure with no samples must not print as 0)."""
    if not values:
        raise ValueError("no samples")
    return float(statistics.median(values))


def paired_ratio(values: dict[int, float], bases: dict[int, float]) -> float | None:
    """Median over rounds of value/base, using only rounds that have both; None when none do."""
    ratios = [values[key] / bases[key] for key in sorted(values) if bases.get(key)]
    return median(ratios) if ratios else None


def summarize(rounds: Sequence[Round], baseline: str = "plain") -> list[Summary]:
    """One summary per (app, mode), in the order they first appear."""
    groups: dict[tuple[str, str], list[Round]] = {}
    for item in rounds:
        groups.setdefault((item.app, item.mode), []).append(item)
    result = []
    for (app, mode), items in groups.items():
        base = groups.get((app, baseline), [])
        by_round = {item.index: item for item in items}
        base_by_round = {item.index: item for item in base}
        compared = mode != baseline and bool(base)
        result.append(
            Summary(
                app=app,
                mode=mode,
                rounds=len(items),
                throughput=median([item.load.throughput for item in items]),
                p50_ms=median([item.load.p50_ms for item in items]),
                p99_ms=median([item.load.p99_ms for item in items]),
                rss_mib=median([item.rss_mib for item in items]),
                failures=sum(item.load.errors + item.load.non_2xx for item in items),
                exported_kib={
                    signal: median([item.exported.get(signal, 0) / 1024 for item in items])
                    for signal in SIGNALS
                },
                throughput_ratio=paired_ratio(
                    {k: v.load.throughput for k, v in by_round.items()},
                    {k: v.load.throughput for k, v in base_by_round.items()},
                ) if compared else None,
                p99_ratio=paired_ratio(
                    {k: v.load.p99_ms for k, v in by_round.items()},
                    {k: v.load.p99_ms for k, v in base_by_round.items()},
                ) if compared else None,
                rss_added_mib=(
                    median([item.rss_mib for item in items]) - median([item.rss_mib for item in base])
                ) if compared else None,
            )
        )
    return result


def added_ms(samples: dict[str, list[float]], baseline: str = "plain") -> dict[str, float]:
    """Median wall time of each mode minus the baseline's, in milliseconds."""
    base = median(samples[baseline])
    return {name: (median(values) - base) * 1000 for name, values in samples.items()}


_RATIO = re.compile(r"TraceIdRatioBased\{([0-9.eE+-]+)\}")


def samples_everything(description: str) -> bool:
    """Whether a sampler (by its ``get_description()``) keeps every root trace: always-on, or a ratio of 1."""
    root = description.split("root:", 1)[1] if description.startswith("ParentBased{root:") else description
    if root.startswith("AlwaysOnSampler"):
        return True
    match = _RATIO.match(root)
    return match is not None and float(match.group(1)) >= 1.0
