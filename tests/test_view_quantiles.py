"""Percentiles from histogram buckets and from raw durations (obs.view.quantiles)."""

from __future__ import annotations

import math

import pytest

from obs.view.quantiles import Buckets, exact_quantile


def test_interpolates_inside_the_bucket_like_histogram_quantile() -> None:
    """10 values in (0, 1] and 10 in (1, 2]: the median is the top of the first bucket, p75 halfway through
    the second, as Prometheus' histogram_quantile computes them."""
    buckets = Buckets((1.0, 2.0), (10, 10, 0))
    assert buckets.quantile(0.5) == pytest.approx(1.0)
    assert buckets.quantile(0.75) == pytest.approx(1.5)
    assert buckets.quantile(0.25) == pytest.approx(0.5)


def test_min_and_max_narrow_the_first_and_overflow_buckets() -> None:
    """Known extremes replace the first bucket's lower edge (0) and the overflow bucket's open upper edge."""
    assert Buckets((1.0, 2.0), (4, 0, 0), min=0.6, max=0.8).quantile(0.5) == pytest.approx(0.7)
    assert Buckets((1.0,), (0, 2), min=3.0, max=5.0).quantile(0.5) == pytest.approx(3.0)
    assert Buckets((1.0,), (0, 2)).quantile(0.99) == pytest.approx(1.0)


def test_empty_histogram_has_no_quantile() -> None:
    """No values, no percentile (rather than a made-up zero)."""
    assert Buckets((1.0,), (0, 0)).quantile(0.5) is None


def test_plus_adds_equal_bounds_and_keeps_extremes() -> None:
    """Two workers' series with the same bounds add bucket by bucket; min and max are the overall ones."""
    total = Buckets((1.0,), (1, 2), min=0.5, max=4.0).plus(Buckets((1.0,), (3, 0), min=0.2, max=0.9))
    assert total == Buckets((1.0,), (4, 2), min=0.2, max=4.0)


def test_plus_with_different_bounds_uses_the_union() -> None:
    """Counts keep their upper bound in the union of both bound lists; nothing is lost."""
    total = Buckets((1.0,), (1, 1)).plus(Buckets((0.5, 2.0), (1, 1, 1)))
    assert total.bounds == (0.5, 1.0, 2.0)
    assert total.counts == (1, 1, 1, 2)


def test_minus_gives_what_a_cumulative_series_added_since_earlier() -> None:
    """Later minus earlier point of one series: the window's counts; min/max are unknown for the window."""
    later, earlier = Buckets((1.0,), (5, 3), 0.1, 9.0), Buckets((1.0,), (2, 3), 0.1, 9.0)
    assert later.minus(earlier) == Buckets((1.0,), (3, 0))


def test_exact_quantile_interpolates_between_ranks() -> None:
    """Sorted durations: the median of 1..4 is 2.5, the extremes are the ends, an empty list has none."""
    assert exact_quantile([1.0, 2.0, 3.0, 4.0], 0.5) == pytest.approx(2.5)
    assert exact_quantile([1.0, 2.0, 3.0, 4.0], 0.99) == pytest.approx(3.97)
    assert exact_quantile([7.0], 0.95) == 7.0
    assert exact_quantile([], 0.5) is None
    assert math.isclose(exact_quantile([0.0, 10.0], 0.95) or 0, 9.5)
