"""obs's ASGI server middleware for HTTP scopes: one pass over the headers, the status from ``send``.

The route is read after the app returns from what the router left in the scope (``scope["route"]``, the
matched route object: Starlette and FastAPI set it), so no route is matched twice. Lifespan and websocket
scopes pass through untouched.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from obs.agent._metrics.lazy_sdk import expect as expect_metrics
from obs.agent._server.request import (
    REQUEST_KEY,
    CapturedHeaders,
    ServerRequest,
    add_server_address,
    begin_safely,
    excluded_urls,
    extract_parent,
    propagation_fields,
)

__all__ = ["REQUEST_KEY", "AsgiRecorder"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class AsgiRecorder:
    """Per framework family: the settings read once (captured headers, excluded URLs, propagation fields)."""

    def __init__(self, frameworks: tuple[str, ...], route_of: Callable[[Scope, str], str | None]) -> None:
        expect_metrics(build_now=True)  # RED metrics are coming; why now: obs.agent._metrics.lazy_sdk
        self._excluded = excluded_urls(*frameworks)
        self._captured = CapturedHeaders()
        self._fields = frozenset(name.encode("latin-1") for name in propagation_fields())
        self._route_of = route_of

    def start(self, scope: Scope, send: Send) -> tuple[ServerRequest, Send, str] | None:
        """Begin recording an HTTP ``scope``: the request, the ``send`` to hand the app instead (it notes
        the status) and the scope's ``root_path`` before routing; None when the request is not recorded.

        The framework's wrapper awaits the app between :meth:`start` and :meth:`finish` itself: a
        recorder coroutine around the app would cost one more coroutine frame per request."""
        request = begin_safely(self._begin, scope)
        if request is None:
            return None
        scope[REQUEST_KEY] = request

        captured = self._captured

        async def send_recorded(message: Message) -> None:
            if message.get("type") == "http.response.start":
                request.status = message.get("status")
                if captured.response:
                    request.response_headers = captured.response_attributes(_decoded(message))
            await send(message)

        return request, send_recorded, scope.get("root_path", "")

    def finish(
        self, request: ServerRequest, scope: Scope, root_path: str, error: BaseException | None
    ) -> None:
        """End the request begun by :meth:`start`, with the route the router left in ``scope``."""
        try:
            request.set_route(self._route_of(scope, root_path))
        finally:
            request.end(error)

    def _begin(self, scope: Scope) -> ServerRequest | None:
        scheme = scope.get("scheme", "http")
        headers = scope.get("headers") or ()
        if self._excluded is not None and self._excluded(_url(scheme, scope, headers)):
            return None
        fields = self._fields
        carrier = {name.decode("latin-1"): value.decode("latin-1")
                   for name, value in headers if name in fields}
        return ServerRequest(scope.get("method", "GET"), scheme, scope.get("http_version", ""),
                             functools.partial(self._describe, scope, scheme), extract_parent(carrier))

    def _describe(self, scope: Scope, scheme: str) -> dict[str, Any]:
        """The attributes of a request kept as a span, read from ``scope`` (method, scheme and protocol
        are :class:`ServerRequest`'s)."""
        attributes: dict[str, Any] = {}
        host = agent = None
        for name, value in scope.get("headers") or ():
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"user-agent":
                agent = value.decode("latin-1")
        server = scope.get("server")
        if host:
            add_server_address(attributes, host, scheme)
        elif server:
            attributes["server.address"] = server[0]
            if server[1] is not None:
                attributes["server.port"] = server[1]
        attributes["url.path"] = scope.get("path") or "/"
        query = scope.get("query_string")
        if query:
            attributes["url.query"] = query.decode("latin-1")
        client = scope.get("client")
        if client:
            attributes["client.address"] = client[0]
            if len(client) > 1 and client[1] is not None:
                attributes["client.port"] = client[1]
        if agent:
            attributes["user_agent.original"] = agent
        if self._captured.request:
            attributes.update(self._captured.request_attributes(_decoded(scope)))
        return attributes


WRAPPED = "__obs_wrapped__"
"""The attribute obs sets on what it wrapped, so that a second install wraps nothing."""


def record_calls(
    app_class: Any, make_recorder: Callable[[], AsgiRecorder], *, scope_marks: tuple[str, ...] = (),
) -> bool:
    """Wrap ``app_class``'s own ``__call__`` so that each HTTP request it serves is recorded by the recorder
    ``make_recorder`` builds (the framework installers' one ASGI wrapper); ``scope_marks`` are keys set in
    each recorded scope (to quiet a framework's own telemetry). False when the class has no ``__call__`` of
    its own or is wrapped already: then no recorder is built (building one readies the metrics SDK)."""
    call = app_class.__dict__.get("__call__")
    if call is None or getattr(call, WRAPPED, False):
        return False
    recorder = make_recorder()

    @functools.wraps(call)
    async def call_recorded(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
        if REQUEST_KEY in scope or scope.get("type") != "http":
            await call(self, scope, receive, send)  # recorded outside already, or not a request obs records
            return
        for key in scope_marks:
            scope[key] = None
        started = recorder.start(scope, send)
        if started is None:
            await call(self, scope, receive, send)
            return
        request, send_recorded, root_path = started
        try:
            await call(self, scope, receive, send_recorded)
        except BaseException as raised:
            recorder.finish(request, scope, root_path, raised)
            raise
        recorder.finish(request, scope, root_path, None)

    setattr(call_recorded, WRAPPED, True)
    app_class.__call__ = call_recorded
    return True


def _decoded(scope_or_message: Scope | Message) -> dict[str, list[str]]:
    """The ``headers`` of an ASGI scope or response start message, decoded, values by name."""
    headers: dict[str, list[str]] = {}
    for name, value in scope_or_message.get("headers") or ():
        headers.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
    return headers


def _url(scheme: str, scope: Scope, headers: Iterable[tuple[bytes, bytes]]) -> str:
    host = next((value.decode("latin-1") for name, value in headers if name == b"host"), None)
    server = scope.get("server")
    where = host or (f"{server[0]}:{server[1]}" if server else "")
    path = f"{scheme}://{where}{scope.get('root_path', '')}{scope.get('path') or '/'}"
    query = scope.get("query_string")
    return f"{path}?{query.decode('latin-1')}" if query else path
