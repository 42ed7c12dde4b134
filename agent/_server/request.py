"""One HTTP server request as obs records it: a SERVER span when the trace is sampled, the RED figures always.

Shared by obs's WSGI (Flask) and ASGI (Starlette, FastAPI) middlewares, which replace the contrib ones on
the request path: those cost several times as much a request (a semconv helper per attribute, the route
found by walking every route again, SDK instruments) as this, the span itself aside (docs/benchmarks.md).

What a request records follows the stable HTTP semantic conventions as the contrib instrumentations emit
them (compared attribute by attribute in ``tests/test_agent_http_server.py``):

- the span, named ``METHOD route`` (``METHOD`` alone when nothing matched), with the request attributes at
  start (so a sampler sees them), ``http.route``, ``http.response.status_code`` and ``error.type`` at end,
  status ERROR for 5xx and exceptions, and the exception as an event;
- ``http.server.request.duration`` and ``http.server.active_requests`` through
:mod:`obs.agent._metrics.red_store`, with
  an exemplar pointing at the span when it was sampled.

A request that fails (5xx, or an exception) in a trace the sampler dropped is still kept as one span, with
the trace id its log lines already carry: failures are never sampled away, whatever the ratio.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from obs.agent._errors.operation import CURRENT as CURRENT_OPERATION
from obs.agent._metrics.red_store import ActiveKey, server_requests
from obs.agent._server.target import Target
from obs.agent._support.report import error_once
from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

__all__ = ["KNOWN_METHODS", "REQUEST_KEY", "CapturedHeaders", "ServerRequest", "add_server_address",
           "begin_safely", "excluded_urls", "extract_parent"]

KNOWN_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY"}
)
"""Methods kept as they are; any other becomes ``_OTHER`` (semantic conventions: bounded cardinality)."""

REQUEST_KEY: Final = "obs.request"
"""Where the :class:`ServerRequest` waits in the WSGI environ or ASGI scope, for the framework's hooks
(route, exception) and for an app mounted inside an instrumented one (one span a request)."""
T = TypeVar("T")
_SAMPLED: Final = TraceFlags(TraceFlags.SAMPLED)


class CapturedHeaders:
    """The headers ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST`` and ``..._RESPONSE`` name, as
    span attributes, by the contrib instrumentations' rules (opentelemetry.util.http): each entry is a regex
    matched against the whole header name, case-insensitively; attribute names are lower case with
    underscores (``http.request.header.x_shop``); values of headers matching
    ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS`` become ``[REDACTED]``. Read once; with
    neither variable set, the recorders skip it entirely."""

    def __init__(self) -> None:
        from opentelemetry.util.http import SanitizeValue, get_custom_headers

        prefix = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_"
        self.request = get_custom_headers(prefix + "SERVER_REQUEST")
        self.response = get_custom_headers(prefix + "SERVER_RESPONSE")
        self._sanitize = SanitizeValue(get_custom_headers(prefix + "SANITIZE_FIELDS"))

    def request_attributes(self, headers: Mapping[str, str | list[str]]) -> dict[str, list[str]]:
        from opentelemetry.util.http import normalise_request_header_name

        return self._sanitize.sanitize_header_values(headers, self.request, normalise_request_header_name)

    def response_attributes(self, headers: Mapping[str, str | list[str]]) -> dict[str, list[str]]:
        from opentelemetry.util.http import normalise_response_header_name

        return self._sanitize.sanitize_header_values(headers, self.response, normalise_response_header_name)


def excluded_urls(*frameworks: str) -> Callable[[str], bool] | None:
    """The first of ``OTEL_PYTHON_<framework>_EXCLUDED_URLS`` set, else ``OTEL_PYTHON_EXCLUDED_URLS``, as a
    test of a full URL (the contrib's regex rules); None when none is set."""
    from opentelemetry.util.http import ExcludeList, parse_excluded_urls

    names = [f"OTEL_PYTHON_{framework}_EXCLUDED_URLS" for framework in frameworks]
    for name in (*names, "OTEL_PYTHON_EXCLUDED_URLS"):
        raw = os.environ.get(name)
        if raw:
            excluded: ExcludeList = parse_excluded_urls(raw)
            return excluded.url_disabled
    return None


class _MappingGetter(Getter[Mapping[str, str]]):
    """Reads propagation headers from a dict of lower-case header names."""

    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:
        value = carrier.get(key.lower())
        return None if value is None else [value]

    def keys(self, carrier: Mapping[str, str]) -> list[str]:
        return list(carrier)


_GETTER: Final = _MappingGetter()


def propagation_fields() -> frozenset[str]:
    """Header names the global propagator reads (lower case): a request with none of them has no parent."""
    from opentelemetry import propagate

    return frozenset(field.lower() for field in propagate.get_global_textmap().fields)


def extract_parent(headers: Mapping[str, str]) -> Context | None:
    """The remote parent from ``headers`` (lower-case names of the propagator's fields only)."""
    if not headers:
        return None
    from opentelemetry import propagate

    return propagate.extract(headers, getter=_GETTER)


def _described_already() -> dict[str, Any]:
    return {}


class ServerRequest:
    """A request in progress: :meth:`set_route` when routing is done, :meth:`end` once, at the very end."""

    __slots__ = ("_active", "_describe", "_ended", "_operation_token", "_original_method", "_parent",
                 "_started", "_token", "error", "method", "protocol", "response_headers", "route", "scheme",
                 "span", "status", "streamed")

    def __init__(
        self, method: str, scheme: str, protocol: str, describe: Callable[[], dict[str, Any]],
        parent: Context | None,
    ) -> None:
        """``describe()`` gives the request's other attributes (address, path, query, client, user agent,
        captured headers); it is only called for a request that is kept as a span, sampled or failed."""
        self.method = method if method in KNOWN_METHODS else "_OTHER"
        self._original_method = method
        self.scheme = scheme
        self.protocol = protocol
        self.route: str | None = None
        self.status: int | None = None
        self.error: BaseException | None = None
        self.response_headers: dict[str, list[str]] | None = None
        """Captured response headers as attributes (see :class:`CapturedHeaders`), when any are asked for."""
        self.streamed = False  # the body is made while the server sends it: the request ends at its close
        self._ended = False
        self._describe = describe
        self._parent = None if parent is None else trace.get_current_span(parent).get_span_context()
        self._active: ActiveKey = (self.method, scheme)
        server_requests().started(self._active)
        self._started = time.perf_counter()
        self.span = span = Target.tracer.start_span(self._name(), context=parent, kind=SpanKind.SERVER)
        if span.is_recording():
            span.set_attributes(self._request_attributes())
        self._token: object | None = context_api.attach(trace.set_span_in_context(self.span, parent))
        self._operation_token: Any = CURRENT_OPERATION.set(self)

    def operation(self) -> str:
        """What the request is, for an error grouped while it runs: its span name (``METHOD route``)."""
        return self._name()

    def detach(self) -> None:
        """Leave the request's context (the app's code has returned); the span ends later, in :meth:`end`."""
        token, self._token = self._token, None
        if token is not None:
            CURRENT_OPERATION.reset(self._operation_token)
            context_api.detach(token)  # type: ignore[arg-type]

    def set_route(self, route: str | None) -> None:
        if route:
            self.route = route

    def end(self, error: BaseException | None = None) -> None:
        """Record the request once: span attributes and end, RED figures, the kept failure."""
        if self._ended:
            return
        self._ended = True
        seconds = time.perf_counter() - self._started
        try:
            self._finish(seconds, error or self.error)
        except Exception as problem:
            error_once("recording an HTTP server request", problem)
        finally:
            self.detach()
            # the request sits in its scope or environ, and ``describe`` holds that: break the cycle, so the
            # request and everything it reaches is freed at once instead of by the cyclic GC (which then
            # ran 12 times as often as the plain app's and made a fifth of the FastAPI example's p99)
            self._describe = _described_already
            self.error = None

    def _finish(self, seconds: float, error: BaseException | None) -> None:
        status = self.status
        error_type: str | None = None
        if status is not None and status >= 500:
            error_type = str(status)
        elif error is not None:
            error_type = _qualified_name(error)
        span = self.span
        span_context = span.get_span_context()
        sampled = span.is_recording()
        if sampled:
            self._finish_span(span, status, error_type, error)
        elif error_type is not None and Target.failed is not None:
            self._keep_failed(span_context, seconds, status, error_type, error)
        if error is not None:
            from obs.agent._errors.record import request_failed

            request_failed(error, self._name(), span_context.trace_id)
        server_requests().finished(
            self._active,
            (self.method, self.scheme, self.protocol, status, self.route, error_type),
            seconds,
            (span_context.trace_id, span_context.span_id) if sampled and span_context.trace_flags.sampled
            else None,
        )

    def _request_attributes(self) -> dict[str, Any]:
        attributes = self._describe()
        attributes["http.request.method"] = self.method
        if self.method != self._original_method:
            attributes["http.request.method_original"] = self._original_method
        attributes["url.scheme"] = self.scheme
        if self.protocol:
            attributes["network.protocol.version"] = self.protocol
        return attributes

    def _end_attributes(self, status: int | None, error_type: str | None) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        if self.route:
            attributes["http.route"] = self.route
        if status is not None:
            attributes["http.response.status_code"] = status
        if error_type is not None:
            attributes["error.type"] = error_type
        if self.response_headers:
            attributes.update(self.response_headers)
        return attributes

    def _name(self) -> str:
        method = "HTTP" if self.method == "_OTHER" else self.method
        return f"{method} {self.route}" if self.route else method

    def _finish_span(
        self, span: trace.Span, status: int | None, error_type: str | None, error: BaseException | None
    ) -> None:
        span.set_attributes(self._end_attributes(status, error_type))
        if self.route:
            span.update_name(self._name())
        if error is not None:
            span.record_exception(error)
        if error_type is not None:
            description = f"{type(error).__name__}: {error}" if error is not None else None
            span.set_status(Status(StatusCode.ERROR, description))
        span.end()

    def _keep_failed(
        self, unsampled: SpanContext, seconds: float, status: int | None, error_type: str,
        error: BaseException | None,
    ) -> None:
        """The failed request as one sampled span with the trace and span ids its logs already carry."""
        end_ns = time.time_ns()
        provider = Target.provider
        parent = self._parent if self._parent is not None and self._parent.is_valid else None
        attributes = self._request_attributes()
        attributes.update(self._end_attributes(status, error_type))
        events = [_exception_event(error, end_ns)] if error is not None else []
        description = f"{type(error).__name__}: {error}" if error is not None else None
        kept = ReadableSpan(
            name=self._name(),
            context=SpanContext(unsampled.trace_id, unsampled.span_id, is_remote=False, trace_flags=_SAMPLED,
                                trace_state=unsampled.trace_state),
            parent=parent,
            resource=provider.resource if provider is not None else None,
            attributes=attributes,
            events=events,
            kind=SpanKind.SERVER,
            status=Status(StatusCode.ERROR, description),
            start_time=end_ns - int(seconds * 1e9),
            end_time=end_ns,
            instrumentation_scope=Target.scope,
        )
        assert Target.failed is not None
        Target.failed.on_end(kept)


def _qualified_name(error: BaseException) -> str:
    kind = type(error)
    module = kind.__module__
    return kind.__qualname__ if module in ("builtins", "__main__") else f"{module}.{kind.__qualname__}"


def _exception_event(error: BaseException, at_ns: int) -> Event:
    return Event("exception", {
        "exception.type": _qualified_name(error),
        "exception.message": str(error),
        "exception.stacktrace": "".join(traceback.format_exception(error)),
        "exception.escaped": "False",
    }, at_ns)


_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


_hosts: dict[tuple[str, str], tuple[str, int | None]] = {}
_HOSTS_KEPT: Final = 256


def add_server_address(attributes: dict[str, Any], host: str, scheme: str) -> None:
    """``server.address`` and ``server.port`` from a ``Host`` header (the scheme's port if it names none).

    A server sees a handful of host names: each is parsed once (up to 256 of them)."""
    known = _hosts.get((host, scheme))
    if known is None:
        name, _, port = host.rpartition(":") if host[-1:] != "]" and ":" in host else (host, "", "")
        known = (name, int(port) if port.isdigit() else _DEFAULT_PORTS.get(scheme))
        if len(_hosts) < _HOSTS_KEPT:
            _hosts[(host, scheme)] = known
    attributes["server.address"] = known[0]
    if known[1] is not None:
        attributes["server.port"] = known[1]


def begin_safely(begin: Callable[[T], ServerRequest | None], carrier: T) -> ServerRequest | None:
    """``begin(carrier)``, or None after one line if obs itself fails: the app's request goes on."""
    try:
        return begin(carrier)
    except Exception as error:
        error_once("starting an HTTP server span", error)
        return None
