"""obs's default root sampler: every trace while traffic is low, a ratio of them beyond a per-second budget.

Why this default: on a laptop or a quiet service a developer looks for the trace of the request they just
made, so every one is kept; under load, sampling 10% of the rest keeps the cost of spans (creating,
recording and encoding one for each sampled request) off most requests. Nothing is lost that the product
promises: the RED metrics count every request whatever the sampling, a request that fails is kept as a
span even when its trace was not sampled (obs.agent._server.request), and child spans follow their root's
decision (the sampler is wrapped in ParentBased), so a kept trace is complete.

``OTEL_TRACES_SAMPLER`` set to any specification name replaces it; ``OTEL_TRACES_SAMPLER_ARG`` alone sets
this sampler's ratio.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Sampler, SamplingResult, TraceIdRatioBased
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

__all__ = ["DEFAULT_RATIO", "DEFAULT_TRACES_PER_SECOND", "TracesPerSecondThenRatio", "build_sampler"]

DEFAULT_TRACES_PER_SECOND = 10
DEFAULT_RATIO = 0.1


class TracesPerSecondThenRatio(Sampler):
    """Keep the first ``per_second`` root traces of each second, then ``ratio`` of the others by trace id.

    The budget is counted without a lock: two threads racing at a second's edge may keep one trace more,
    which costs nothing that matters and saves a lock on every request.
    """

    def __init__(self, per_second: int = DEFAULT_TRACES_PER_SECOND, ratio: float = DEFAULT_RATIO) -> None:
        self._per_second = per_second
        self._ratio = TraceIdRatioBased(ratio)
        self._window_ends = 0.0
        self._left = 0

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        now = time.monotonic()
        if now >= self._window_ends:
            self._window_ends = now + 1.0
            self._left = self._per_second
        chosen: Sampler = self._ratio
        if self._left > 0:
            self._left -= 1
            chosen = ALWAYS_ON
        return chosen.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"TracesPerSecondThenRatio{{{self._per_second}/s,{self._ratio.get_description()}}}"


def build_sampler(name: str, ratio: float | None) -> Sampler:
    """The sampler for a checked ``OTEL_TRACES_SAMPLER`` name (see obs.agent._config.check.SAMPLERS), or obs's
    default (:class:`TracesPerSecondThenRatio`) for any other."""
    from opentelemetry.sdk.trace import sampling

    given = ratio
    ratio = 1.0 if ratio is None else ratio
    if name == "always_on":
        return sampling.ALWAYS_ON
    if name == "always_off":
        return sampling.ALWAYS_OFF
    if name == "traceidratio":
        return sampling.TraceIdRatioBased(ratio)
    if name == "parentbased_always_off":
        return sampling.ParentBased(sampling.ALWAYS_OFF)
    if name == "parentbased_traceidratio":
        return sampling.ParentBased(sampling.TraceIdRatioBased(ratio))
    if name == "parentbased_always_on":
        return sampling.ParentBased(sampling.ALWAYS_ON)
    return sampling.ParentBased(TracesPerSecondThenRatio(ratio=DEFAULT_RATIO if given is None else given))
