"""obs's WSGI server middleware: one pass over ``environ``, a :class:`ServerRequest`, the body passed through.

The request's context is current while the app runs. The span and the duration end when the app returns,
as the contrib's do (servers and test clients that never close a body cannot leave a request open), except
for a body the framework says is streamed: that one ends when the server closes it, with its true duration.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
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

__all__ = ["REQUEST_KEY", "WsgiRecorder"]

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class WsgiRecorder:
    """Per framework: the settings read once (captured headers, excluded URLs, propagation fields)."""

    def __init__(self, framework: str) -> None:
        expect_metrics()  # RED metrics are coming (obs.agent._metrics.lazy_sdk)
        self._excluded = excluded_urls(framework)
        self._captured = CapturedHeaders()
        self._fields = tuple(
            (name, "HTTP_" + name.upper().replace("-", "_")) for name in propagation_fields()
        )

    def serve(self, app: WsgiApp, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Call ``app`` as the request's server span; never lets obs's own failure reach the app."""
        if REQUEST_KEY in environ:
            return app(environ, start_response)  # an app inside an instrumented app: one span a request
        request = begin_safely(self._begin, environ)
        if request is None:
            return app(environ, start_response)
        environ[REQUEST_KEY] = request

        captured = self._captured

        def start_response_recorded(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            code = status[:3]
            if code.isdigit():
                request.status = int(code)
            if captured.response:
                request.response_headers = captured.response_attributes(_joined(headers))
            return start_response(status, headers, *exc_info)

        try:
            body = app(environ, start_response_recorded)
        except BaseException as error:
            request.end(error)
            raise
        finally:
            request.detach()
        if request.streamed:
            return _Body(body, request)
        request.end()
        return body

    def _begin(self, environ: dict[str, Any]) -> ServerRequest | None:
        scheme = environ.get("wsgi.url_scheme", "http")
        if self._excluded is not None and self._excluded(_url(environ, scheme)):
            return None
        protocol = environ.get("SERVER_PROTOCOL", "")
        protocol = protocol[5:] if protocol.startswith("HTTP/") else protocol
        carrier = {name: environ[key] for name, key in self._fields if key in environ}
        return ServerRequest(environ.get("REQUEST_METHOD", "GET"), scheme, protocol,
                             functools.partial(self._describe, environ, scheme), extract_parent(carrier))

    def _describe(self, environ: dict[str, Any], scheme: str) -> dict[str, Any]:
        """The attributes of a request kept as a span, read from ``environ`` (method, scheme and protocol
        are :class:`ServerRequest`'s)."""
        attributes: dict[str, Any] = {}
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME")
        if host:
            add_server_address(attributes, host, scheme)
        attributes["url.path"] = environ.get("PATH_INFO") or "/"
        query = environ.get("QUERY_STRING")
        if query:
            attributes["url.query"] = query
        client = environ.get("REMOTE_ADDR")
        if client:
            attributes["client.address"] = client
        agent = environ.get("HTTP_USER_AGENT")
        if agent:
            attributes["user_agent.original"] = agent
        if self._captured.request:
            sent = {key[5:].replace("_", "-"): value
                    for key, value in environ.items() if key.startswith("HTTP_")}
            attributes.update(self._captured.request_attributes(sent))
        return attributes


def _joined(headers: list[tuple[str, str]]) -> dict[str, str]:
    """Response headers by lower-case name, repeated ones joined with commas (as the contrib WSGI
    middleware reports them)."""
    joined: dict[str, str] = {}
    for name, value in headers:
        name = name.lower()
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


def _url(environ: dict[str, Any], scheme: str) -> str:
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    query = environ.get("QUERY_STRING")
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    return f"{scheme}://{host}{path}" + (f"?{query}" if query else "")


class _Body:
    """The app's response body; closing it (the server always does) ends the request."""

    __slots__ = ("_body", "_request")

    def __init__(self, body: Iterable[bytes], request: ServerRequest) -> None:
        self._body = body
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._request.end()
