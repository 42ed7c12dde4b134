"""Starlette and FastAPI: obs's ASGI middleware around every app, the route from the router's own match.

``Starlette.__call__`` and ``FastAPI.__call__`` are wrapped once, at the class, so apps made before the
agent started are covered too and the user's middleware stack is left as it is (a request already recorded
by an outer wrapper passes through the inner one). The route
template is the matched route's ``path``, prefixed with the paths of the mounts it sits under (the growth
of ``root_path`` while routing).
"""

from __future__ import annotations

from typing import Any

from obs.agent._server.asgi import AsgiRecorder, Scope, record_calls

__all__ = ["instrument", "instrument_fastapi", "route_of"]

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
    return record_calls(app_class, lambda: AsgiRecorder(("FASTAPI", "STARLETTE"), route_of),
                        scope_marks=(_FASTAPI_NATIVE_KEY,) if quiet_native else ())
