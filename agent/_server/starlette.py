"""Starlette and FastAPI: obs's ASGI middleware around every app, the route from the router's own match.

``Starlette.__call__`` and ``FastAPI.__call__`` are wrapped once, at the class, so apps made before the
agent started are covered too and the user's middleware stack is left as it is (a request already recorded
by an outer wrapper passes through the inner one). The route
template is the matched route's ``path``, prefixed with the paths of the mounts it sits under (the growth
of ``root_path`` while routing).
"""

from __future__ import annotations

import functools
from typing import Any

from obs.agent._server.asgi import REQUEST_KEY, AsgiRecorder, Receive, Scope, Send

__all__ = ["instrument", "instrument_fastapi", "route_of"]

_MARK = "__obs_wrapped__"
_FASTAPI_NATIVE_KEY = "fastapi.telemetry"
"""Present in the scope, it tells FastAPI's native telemetry the request is taken care of (None: no data)."""


def route_of(scope: Scope, root_path: str) -> str | None:
    """The matched route's template, with the mount prefixes added since ``root_path``; None if no match."""
    route = scope.get("route")
    path: object = getattr(route, "path", None)
    if not isinstance(path, str):
        return None
    prefix = str(scope.get("root_path", ""))[len(root_path):]
    if not hasattr(route, "endpoint"):  # a Mount: its own prefix is in root_path already
        return prefix or path
    return prefix + path


def instrument() -> bool:
    """Wrap ``starlette.applications.Starlette.__call__`` once; False when it was already."""
    from starlette.applications import Starlette

    return _wrap_call(Starlette, quiet_native=False)


def instrument_fastapi() -> bool:
    """Starlette's wrapper, and FastAPI's own: FastAPI 0.16x records requests itself (spans, SDK metrics,
    operation spans) once a global provider is set, unless it sees an instrumentation already in front of
    it; obs's wrapper marks each HTTP request as handled, so each is recorded once, by obs. Websocket
    connections, which obs does not record, are left to FastAPI's own telemetry."""
    from fastapi import FastAPI

    instrument()
    return _wrap_call(FastAPI, quiet_native=True)


def _wrap_call(app_class: Any, *, quiet_native: bool) -> bool:
    call = app_class.__dict__.get("__call__")
    if call is None or getattr(call, _MARK, False):
        return False
    recorder = AsgiRecorder(("FASTAPI", "STARLETTE"), route_of)

    @functools.wraps(call)
    async def call_recorded(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
        if REQUEST_KEY in scope or scope.get("type") != "http":
            await call(self, scope, receive, send)  # recorded outside already, or not a request obs records
            return
        if quiet_native:
            scope[_FASTAPI_NATIVE_KEY] = None
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

    setattr(call_recorded, _MARK, True)
    app_class.__call__ = call_recorded
    return True
