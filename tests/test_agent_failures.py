"""A failed request is a 5xx or an exception, never a 4xx, and it is kept even when its trace is not sampled:
the rule obs applies to the contrib server instrumentations' spans (obs.agent._traces.failures), checked on
the real SDK with an in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from obs.agent._server.target import Target, configure
from obs.agent._traces.failures import KeepFailedServerSpans, ServerSpanFailures, is_failure
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler
from opentelemetry.trace import SpanKind, Status, StatusCode, use_span


def _provider(sampler: Sampler) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    queue = SimpleSpanProcessor(exporter)
    provider = TracerProvider(sampler=KeepFailedServerSpans(sampler))
    provider.add_span_processor(ServerSpanFailures(queue))
    provider.add_span_processor(queue)
    return provider, exporter


@pytest.fixture
def unsampled() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    provider, exporter = _provider(ALWAYS_OFF)
    yield provider, exporter
    provider.shutdown()


def _request(provider: TracerProvider, status: int, error: str | None = None) -> tuple[int, int]:
    """A server span as a contrib instrumentation makes it, with a database span inside; its ids."""
    tracer = provider.get_tracer("opentelemetry.instrumentation.test")
    span = tracer.start_span("GET /items/{id}", kind=SpanKind.SERVER,
                             attributes={"http.request.method": "GET"})
    with use_span(span, end_on_exit=False):
        tracer.start_span("SELECT items", kind=SpanKind.CLIENT).end()
    span.set_attribute("http.response.status_code", status)
    if error is not None or status >= 500:
        span.set_status(Status(StatusCode.ERROR, error))
    span.end()
    context = span.get_span_context()
    return context.trace_id, context.span_id


def test_a_sampled_4xx_server_span_is_no_error() -> None:
    """A server span that answered 404 ends with status UNSET even when the instrumentation set ERROR (as
    Django's contrib middleware does for Http404); a 500 stays an error."""
    provider, exporter = _provider(ALWAYS_ON)
    _request(provider, 404, "Http404")
    _request(provider, 500)
    statuses = {span.attributes["http.response.status_code"]: span.status.status_code
                for span in exporter.get_finished_spans() if span.kind is SpanKind.SERVER}
    assert statuses == {404: StatusCode.UNSET, 500: StatusCode.ERROR}


def test_an_unsampled_failed_request_is_kept_with_its_own_ids(
    unsampled: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    """In a trace the sampler dropped, the failed server span is exported, sampled, with the trace and span
    ids the request's context (and so its log lines) carried; its children are not recorded."""
    provider, exporter = unsampled
    trace_id, span_id = _request(provider, 500)
    (kept,) = exporter.get_finished_spans()
    assert (kept.context.trace_id, kept.context.span_id) == (trace_id, span_id)
    assert kept.context.trace_flags.sampled and kept.kind is SpanKind.SERVER
    assert kept.status.status_code is StatusCode.ERROR
    assert kept.attributes["http.request.method"] == "GET"


@pytest.mark.parametrize("status", [200, 404])
def test_an_unsampled_request_that_did_not_fail_is_not_exported(
    unsampled: tuple[TracerProvider, InMemorySpanExporter], status: int
) -> None:
    """A 2xx or a 4xx (even one the instrumentation marked as an error) in an unsampled trace: nothing."""
    provider, exporter = unsampled
    _request(provider, status, "Http404" if status == 404 else None)
    assert exporter.get_finished_spans() == ()


def test_an_unsampled_consumer_span_is_recorded_but_not_exported(
    unsampled: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    """A consumer span (a message or task received) in a dropped trace is recorded, so that its failure can
    be counted in the error groups, and never exported, failed or not; its children are not recorded."""
    provider, exporter = unsampled
    tracer = provider.get_tracer("opentelemetry.instrumentation.test")
    span = tracer.start_span("orders receive", kind=SpanKind.CONSUMER)
    with use_span(span, end_on_exit=False):
        assert not tracer.start_span("SELECT orders", kind=SpanKind.CLIENT).is_recording()
    assert span.is_recording() and not span.get_span_context().trace_flags.sampled
    span.set_status(Status(StatusCode.ERROR, "LookupError"))
    span.end()
    assert exporter.get_finished_spans() == ()


def test_obs_own_middleware_keeps_the_plain_sampler() -> None:
    """obs's middlewares keep their failures themselves: their tracer samples with the wrapped sampler,
    so their unsampled requests are not recorded."""
    provider, _ = _provider(ALWAYS_OFF)
    configure(provider, None)
    assert not Target.tracer.start_span("GET", kind=SpanKind.SERVER).is_recording()


def test_failure_rule() -> None:
    """5xx fails; 4xx never, even with an error status; an exception without an answer fails."""
    assert is_failure(StatusCode.UNSET, {"http.response.status_code": 503})
    assert not is_failure(StatusCode.ERROR, {"http.response.status_code": 404})
    assert is_failure(StatusCode.ERROR, {})
    assert is_failure(StatusCode.UNSET, {"error.type": "builtins.RuntimeError"})
    assert not is_failure(StatusCode.UNSET, {"http.response.status_code": 200})
