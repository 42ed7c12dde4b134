"""obs's default sampler: every trace while traffic is low, a ratio beyond a per-second budget, complete
traces either way (children follow their root)."""

from __future__ import annotations

from pathlib import Path

import pytest
from obs.agent._config.check import DEFAULT_SAMPLER, sampler_name
from obs.agent._traces.sampling import TracesPerSecondThenRatio, build_sampler
from obs.agent.settings import load_settings
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import Decision


def _kept(sampler: TracesPerSecondThenRatio, count: int) -> int:
    return sum(
        sampler.should_sample(None, trace_id, "GET").decision is Decision.RECORD_AND_SAMPLE
        for trace_id in range(1, count + 1)
    )


def test_the_first_traces_of_each_second_are_all_kept_then_the_ratio_applies() -> None:
    """A burst of 50 root spans: the budget's 10 are kept, none of the other 40 at a ratio of 0; at a ratio
    of 1 all 50 are."""
    assert _kept(TracesPerSecondThenRatio(per_second=10, ratio=0.0), 50) == 10
    assert _kept(TracesPerSecondThenRatio(per_second=10, ratio=1.0), 50) == 50


def test_the_budget_comes_back_each_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a second has passed, the next 10 are kept again."""
    import obs.agent._traces.sampling as sampling

    now = [100.0]
    monkeypatch.setattr(sampling.time, "monotonic", lambda: now[0])
    sampler = TracesPerSecondThenRatio(per_second=10, ratio=0.0)
    assert _kept(sampler, 30) == 10
    now[0] += 1.0
    assert _kept(sampler, 30) == 10


def test_it_is_the_default_and_children_follow_their_root(tmp_path: Path) -> None:
    """With no sampler named, obs builds its own behind ParentBased: once the budget is spent, an unsampled
    root's children are dropped and a sampled root's children are kept, so every kept trace is whole."""
    settings = load_settings(cwd=tmp_path, environ={})
    assert sampler_name(settings) == DEFAULT_SAMPLER
    sampler = build_sampler(DEFAULT_SAMPLER, 0.0)
    assert sampler.get_description().startswith("ParentBased{root:TracesPerSecondThenRatio{10/s,")
    tracer = TracerProvider(sampler=sampler).get_tracer("spec")
    roots = [tracer.start_span("root") for _ in range(12)]
    kept, dropped = roots[0], roots[-1]
    assert kept.is_recording() and not dropped.is_recording()
    assert tracer.start_span("child", context=trace.set_span_in_context(kept)).is_recording()
    assert not tracer.start_span("child", context=trace.set_span_in_context(dropped)).is_recording()


def test_a_named_sampler_replaces_the_default(tmp_path: Path) -> None:
    """``OTEL_TRACES_SAMPLER`` set: the specification's sampler, not obs's."""
    settings = load_settings(cwd=tmp_path, environ={"OTEL_TRACES_SAMPLER": "parentbased_always_on"})
    assert build_sampler(sampler_name(settings), None).get_description().startswith(
        "ParentBased{root:AlwaysOnSampler")
