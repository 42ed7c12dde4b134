"""The bench's arithmetic: medians, ratios paired by round, start-up added, what counts as 100% sampling."""

from __future__ import annotations

import pytest

from bench.stats import Round, added_ms, median, paired_ratio, samples_everything, summarize
from bench.wrk import LoadResult


def _round(mode: str, index: int, requests: int, p99: float, rss: float, app: str = "flask") -> Round:
    load = LoadResult(requests=requests, duration_s=10.0, errors=0, non_2xx=1 if mode == "otel" else 0,
                      p50_ms=p99 / 4, p90_ms=p99 / 2, p99_ms=p99)
    return Round(app, mode, index, load, rss, exported={"traces": 2048 * index, "logs": 1024})


def test_median_of_nothing_is_an_error() -> None:
    """A figure with no samples must not be printed as 0."""
    with pytest.raises(ValueError):
        median([])
    assert median([3.0, 1.0, 2.0, 10.0]) == 2.5


def test_ratio_is_paired_by_round_and_skips_unpaired_rounds() -> None:
    """Each round's value is divided by the same round's base before the median; a round without a base
    (or with a zero base) does not count."""
    assert paired_ratio({0: 50.0, 1: 90.0, 2: 40.0, 3: 7.0}, {0: 100.0, 1: 100.0, 2: 50.0, 4: 1.0}) == 0.8
    assert paired_ratio({0: 1.0}, {0: 0.0}) is None


def test_summaries_compare_each_mode_with_the_same_apps_plain_run() -> None:
    """Throughput, p99 and RSS are medians over rounds; ratios and added RSS are against plain of the same
    app; plain itself has no ratio; failures sum socket errors and non-2xx answers over rounds."""
    rounds = [
        _round("plain", 0, 1000, 2.0, 30.0), _round("obs", 0, 900, 3.0, 40.0),
        _round("otel", 0, 500, 20.0, 50.0), _round("plain", 1, 2000, 4.0, 32.0),
        _round("obs", 1, 1600, 4.0, 42.0), _round("otel", 1, 1100, 40.0, 52.0),
        _round("plain", 0, 5000, 1.0, 40.0, app="fastapi"),
    ]
    by = {(s.app, s.mode): s for s in summarize(rounds)}
    plain, obs, otel = by["flask", "plain"], by["flask", "obs"], by["flask", "otel"]
    assert plain.throughput == 150.0
    assert (plain.throughput_ratio, plain.p99_ratio, plain.rss_added_mib) == (None, None, None)
    assert obs.throughput_ratio == pytest.approx((0.9 + 0.8) / 2)
    assert obs.p99_ratio == pytest.approx((1.5 + 1.0) / 2)
    assert obs.rss_added_mib == pytest.approx(41.0 - 31.0)
    assert (otel.failures, obs.failures, otel.rounds) == (2, 0, 2)
    assert obs.exported_kib == {"traces": 1.0, "metrics": 0.0, "logs": 1.0}
    assert by["fastapi", "plain"].throughput == 500.0
    assert list(by) == [("flask", "plain"), ("flask", "obs"), ("flask", "otel"), ("fastapi", "plain")]


def test_startup_added_is_median_minus_plain_median_in_ms() -> None:
    """Each mode's median wall time less plain's, in milliseconds (plain is 0 against itself)."""
    added = added_ms({"plain": [0.020, 0.030, 0.025], "obs": [0.100, 0.090, 0.400]})
    assert added["plain"] == 0
    assert added["obs"] == pytest.approx(75.0)


@pytest.mark.parametrize(
    ("description", "everything"),
    [
        ("AlwaysOnSampler", True),
        ("ParentBased{root:AlwaysOnSampler,remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:"
         "AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}", True),
        ("ParentBased{root:TraceIdRatioBased{0.1},remoteParentSampled:AlwaysOnSampler}", False),
        ("TraceIdRatioBased{1.0}", True),
        ("AlwaysOffSampler", False),
        ("SomethingCustom", False),
    ],
)
def test_full_sampling_is_read_from_the_sampler_description(description: str, everything: bool) -> None:
    """Always-on or a ratio of 1 at the root keep every trace; anything else (unknown included) does not, so
    the bench then also runs obs at 100% explicitly."""
    assert samples_everything(description) is everything
