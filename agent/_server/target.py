"""Where obs's server middlewares send what they record: set by the running pipeline.

Apart from :mod:`obs.agent._server.request` so that the pipeline can set it at boot without loading the
middlewares' code (and the propagators it needs), which only an app that serves HTTP uses.
"""

from __future__ import annotations

from obs.agent import catalog
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

__all__ = ["Target", "configure"]


class Target:
    """Where requests go: set by the running pipeline, replaced after a restart."""

    tracer: trace.Tracer = trace.NoOpTracer()
    provider: TracerProvider | None = None
    failed: SpanProcessor | None = None
    scope: InstrumentationScope | None = None


def configure(provider: TracerProvider, failed: SpanProcessor | None) -> None:
    """Use ``provider``'s tracer; hand unsampled failed requests to ``failed`` (the span queue)."""
    from obs import __version__

    Target.scope = InstrumentationScope(catalog.SERVER_SCOPE, __version__)
    Target.tracer = tracer = provider.get_tracer(catalog.SERVER_SCOPE, __version__)
    sampler = getattr(provider, "sampler", None)
    inner = getattr(sampler, "inner", None)
    if inner is not None and hasattr(tracer, "sampler"):
        # obs's middlewares keep their failed requests themselves (obs.agent._traces.failures): their
        # unsampled requests need not be recorded
        setattr(tracer, "sampler", inner)  # noqa: B010 (the SDK tracer's public attribute; the API type lacks it)
    Target.provider = provider
    Target.failed = failed
