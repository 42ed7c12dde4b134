"""What a failed request is, the same for every framework: a 5xx or an exception, never a 4xx; and a failed
request is kept as a span even when its trace was not sampled. A failed request or task of another
instrumentation is also counted in the error groups, sampled or not.

obs's own server middlewares (Flask, FastAPI, Starlette, Django) do all of it themselves
(:mod:`obs.agent._server.request`). The contrib instrumentations still in use (Falcon, Pyramid, Tornado,
aiohttp, any framework under ``server_middleware = "contrib"``, and the consumers: Celery, Kafka, RabbitMQ...)
get it here:

- :class:`ServerSpanFailures`, a span processor, sets a server span that answered 4xx back to status UNSET
  while it ends, before any processor or exporter sees it (Django's contrib middleware marks ``Http404`` as an
  error; the HTTP conventions leave 4xx server spans unset). It hands every server or consumer span that ended
  in error, sampled or not, to the error groups (:func:`obs.agent._errors.record.span_ended_in_error`), and
  keeps a failed server span of a trace the sampler dropped: it hands a sampled copy, with the same trace and
  span ids the request's log lines carry, to the span queue.
- :class:`KeepFailedServerSpans` wraps the sampler so that such a span is recorded at all: a server or
  consumer span (root, or with a remote parent) the sampler drops is RECORD_ONLY instead: its attributes,
  events and status are kept in memory until it ends, nothing is exported unless a server span failed, and
  its children follow the dropped decision (ParentBased). obs's own middlewares keep and count their failures
  without it, so their tracer uses the sampler it wraps (:func:`obs.agent._server.target.configure`): their
  unsampled requests stay as cheap as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from obs.agent._compat import SPAN_ENDING_HOOK, clear_error_status
from obs.agent.catalog import SERVER_SCOPE
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanContext, SpanKind, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

__all__ = ["KeepFailedServerSpans", "ServerSpanFailures", "is_client_error", "is_failure"]

_STATUS_KEYS: Final = ("http.response.status_code", "http.status_code")
_SAMPLED: Final = TraceFlags(TraceFlags.SAMPLED)
_RECORDED_KINDS: Final = (SpanKind.SERVER, SpanKind.CONSUMER)
"""Spans recorded though their trace is dropped, and counted in the error groups when they end in error."""


def _status_code(attributes: Mapping[str, object] | None) -> int | None:
    for key in _STATUS_KEYS:
        value = attributes.get(key) if attributes else None
        if isinstance(value, int):
            return value
    return None


def is_client_error(attributes: Mapping[str, object] | None) -> bool:
    """The request was answered with a 4xx: the client's mistake, not a failure of the server."""
    code = _status_code(attributes)
    return code is not None and 400 <= code < 500


def is_failure(status: StatusCode, attributes: Mapping[str, object] | None) -> bool:
    """A server span failed: it answered 5xx, or it ended in error (an exception) without answering 4xx."""
    code = _status_code(attributes)
    if code is not None and code >= 500:
        return True
    if code is not None and code < 500:
        return False
    return status is StatusCode.ERROR or bool(attributes and "error.type" in attributes)


class KeepFailedServerSpans(Sampler):
    """``inner``'s decisions, except that a server or consumer span it drops is recorded (not sampled) until
    it ends."""

    def __init__(self, inner: Sampler) -> None:
        self.inner = inner

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
        result = self.inner.should_sample(parent_context, trace_id, name, kind, attributes, links,
                                          trace_state)
        if result.decision is not Decision.DROP or kind not in _RECORDED_KINDS:
            return result
        parent = trace.get_current_span(parent_context).get_span_context()
        if parent.is_valid and not parent.is_remote:
            return result
        return SamplingResult(Decision.RECORD_ONLY, attributes, result.trace_state)

    def get_description(self) -> str:
        return f"KeepFailedServerSpans{{{self.inner.get_description()}}}"


class ServerSpanFailures(SpanProcessor):
    """4xx server spans unset; failed server and consumer spans counted; failed server spans of unsampled
    traces handed to ``keep`` as sampled."""

    def __init__(self, keep: SpanProcessor) -> None:
        self._keep = keep

    def on_ending(self, span: Span) -> None:
        """While the span ends, before any ``on_end``: a 4xx server span is no error."""
        if (span.kind is SpanKind.SERVER and span.status.status_code is StatusCode.ERROR
                and is_client_error(span.attributes)):
            clear_error_status(span)

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None:
            return
        if span.status.status_code is StatusCode.ERROR and span.kind in _RECORDED_KINDS:
            _group_failure(span)
        if context.trace_flags.sampled or span.kind is not SpanKind.SERVER:
            return
        if not is_failure(span.status.status_code, span.attributes):
            return
        kept = ReadableSpan(
            name=span.name,
            context=SpanContext(context.trace_id, context.span_id, is_remote=False, trace_flags=_SAMPLED,
                                trace_state=context.trace_state),
            parent=span.parent,
            resource=span.resource,
            attributes=span.attributes,
            events=span.events,
            links=span.links,
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )
        self._keep.on_end(kept)


def _group_failure(span: ReadableSpan) -> None:
    """Another instrumentation's request or task failed: its exceptions go to the error groups (obs's own
    server spans were counted by its middleware already). Called within the span's ``end``: an exception
    still propagating is the span's own (see :func:`~obs.agent._errors.record.span_ended_in_error`)."""
    scope = span.instrumentation_scope
    if scope is not None and scope.name == SERVER_SCOPE:
        return
    from obs.agent._errors.record import span_ended_in_error

    span_ended_in_error(span)


setattr(ServerSpanFailures, SPAN_ENDING_HOOK, ServerSpanFailures.on_ending)
