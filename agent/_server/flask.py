"""Flask: obs's WSGI middleware on every app, the route from Flask's own URL rule, unhandled exceptions kept.

Three methods of the ``Flask`` class are wrapped, once, rather than each app object: an app created before
the agent started (a module imported early, a late ``obs.init()``) is covered as well.

- ``wsgi_app`` runs the request through :class:`obs.agent._server.wsgi.WsgiRecorder`;
- ``full_dispatch_request`` reads the matched rule (Flask has matched it by then: no route walk) and
  whether the response body is a generator (streamed);
- ``handle_exception`` keeps the exception Flask turns into a 500, for the span's exception event.
"""

from __future__ import annotations

import functools
from types import GeneratorType
from typing import Any

from obs.agent._server.wsgi import REQUEST_KEY, StartResponse, WsgiRecorder

__all__ = ["instrument"]

_MARK = "__obs_wrapped__"


def instrument() -> bool:
    """Wrap ``flask.Flask`` once; False when it was already."""
    import flask

    app_class: Any = flask.Flask
    if getattr(app_class.wsgi_app, _MARK, False):
        return False
    recorder = WsgiRecorder("FLASK")
    wsgi_app = app_class.wsgi_app
    full_dispatch_request = app_class.full_dispatch_request
    handle_exception = app_class.handle_exception

    @functools.wraps(wsgi_app)
    def wsgi_app_recorded(self: Any, environ: dict[str, Any], start_response: StartResponse) -> Any:
        return recorder.serve(functools.partial(wsgi_app, self), environ, start_response)

    @functools.wraps(full_dispatch_request)
    def full_dispatch_request_routed(self: Any) -> Any:
        request = flask.request
        recorded = request.environ.get(REQUEST_KEY)
        if recorded is not None:
            rule = request.url_rule
            if rule is not None:
                recorded.set_route(rule.rule)
        response = full_dispatch_request(self)
        if recorded is not None and isinstance(getattr(response, "response", None), GeneratorType):
            recorded.streamed = True
        return response

    @functools.wraps(handle_exception)
    def handle_exception_kept(self: Any, error: Exception) -> Any:
        recorded = flask.request.environ.get(REQUEST_KEY)
        if recorded is not None:
            recorded.error = error
        return handle_exception(self, error)

    for name, wrapper in (("wsgi_app", wsgi_app_recorded),
                          ("full_dispatch_request", full_dispatch_request_routed),
                          ("handle_exception", handle_exception_kept)):
        setattr(wrapper, _MARK, True)
        setattr(app_class, name, wrapper)
    return True
