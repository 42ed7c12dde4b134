"""Django: obs's WSGI and ASGI recorders around Django's own handlers, the route from Django's URL resolver.

Why not the contrib instrumentor at ``import django``: it reads ``settings.MIDDLEWARE`` then, and when
``DJANGO_SETTINGS_MODULE`` is not set yet (the ``wsgi.py`` that ``startproject`` writes imports
``django.core.wsgi`` before it sets the variable) it calls ``settings.configure()`` with nothing in it, and
every request answers 500 (opentelemetry-python-contrib #677, #2023). obs never reads or configures the
settings: it wraps methods of Django's handler classes, once, as their modules load, so it is in place
whichever way the project is served (gunicorn ``project.wsgi``, uvicorn or daphne ``project.asgi``,
``manage.py runserver``) and whenever the settings become known.

- ``WSGIHandler.__call__`` and ``ASGIHandler.__call__`` run the request through obs's recorders (one span
  and the RED figures per request; a failed request kept even when its trace was not sampled);
- ``BaseHandler.get_response`` and ``get_response_async`` read the route Django resolved
  (``request.resolver_match.route``, as the contrib instrumentation reports it) and whether the body is
  streamed;
- the ``got_request_exception`` signal keeps the exception Django turns into a 500, for the span's exception
  event. ``Http404`` and the other exceptions Django answers with a 4xx never reach it: a 4xx is no error.

The ORM's queries: :mod:`obs.agent._traces.django_db`. ``server_middleware = "contrib"`` uses the contrib
instrumentor instead, switched on only once ``django.setup()`` has run (:func:`instrument_contrib`).
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from obs.agent._support.report import error_once

__all__ = ["instrument", "instrument_contrib"]

_MARK = "__obs_wrapped__"
_HANDLER_MODULES = ("django.core.handlers.wsgi", "django.core.handlers.asgi", "django.db.backends.signals")


def instrument() -> bool:
    """Wrap Django's handlers and watch its database connections, now for the modules already imported and
    as the others load. Touches no setting."""
    _when_loaded(_HANDLER_MODULES, _patch)
    return True


def instrument_contrib() -> bool:
    """The contrib instrumentor, once ``django.setup()`` has run (the settings are known then, and the
    handlers that read ``MIDDLEWARE`` are made after it); the ORM's queries as with obs's recorders."""
    import django

    _when_loaded(("django.db.backends.signals",), _patch)
    apps = sys.modules.get("django.apps")
    if apps is not None and getattr(getattr(apps, "apps", None), "ready", False):
        _contrib_instrument()
        return True
    setup = django.setup
    if getattr(setup, _MARK, False):
        return False

    @functools.wraps(setup)
    def setup_then_instrument(*args: Any, **kwargs: Any) -> None:
        setup(*args, **kwargs)
        _contrib_instrument()

    setattr(setup_then_instrument, _MARK, True)
    django.setup = setup_then_instrument
    return True


def _contrib_instrument() -> None:
    try:
        from opentelemetry.instrumentation.django import DjangoInstrumentor

        instrumentor = DjangoInstrumentor()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(skip_dep_check=True)
    except Exception as error:
        error_once("the django instrumentation", error)


def _when_loaded(names: tuple[str, ...], patch: Any) -> None:
    """``patch(name, module)`` for each module of ``names``: now if it is loaded, else right after it is."""
    from obs.agent._support.import_hook import ImportWatcher, initializing

    waiting = []
    for name in names:
        module = sys.modules.get(name)
        if module is not None and not initializing(name):
            patch(name, module)
        else:
            waiting.append(name)
    if not waiting:
        return

    def loaded(name: str, module: Any) -> None:
        watcher.forget(name)
        if not watcher.watched:
            watcher.uninstall()
        patch(name, module)

    watcher = ImportWatcher(loaded)
    watcher.watch(waiting)
    watcher.install()


def _patch(name: str, module: Any) -> None:
    try:
        if name == "django.core.handlers.wsgi":
            _patch_base()
            _patch_wsgi(module.WSGIHandler)
        elif name == "django.core.handlers.asgi":
            _patch_base()
            _patch_asgi(module.ASGIHandler)
        else:
            from obs.agent._traces.django_db import watch_connections

            watch_connections(module.connection_created)
    except Exception as error:
        error_once("instrumenting Django", error)


def _recorded(request: Any) -> Any:
    """The :class:`ServerRequest` of a Django request: in the ASGI scope or the WSGI environ (``META``)."""
    from obs.agent._server.request import REQUEST_KEY

    carrier = getattr(request, "scope", None)
    if carrier is None:
        carrier = getattr(request, "META", None)
    return carrier.get(REQUEST_KEY) if carrier is not None else None


def _note(request: Any, response: Any) -> None:
    """The route Django resolved and whether the body is streamed, on the request's record."""
    try:
        recorded = _recorded(request)
        if recorded is None:
            return
        match = getattr(request, "resolver_match", None)
        route = getattr(match, "route", None)
        if isinstance(route, str):
            recorded.set_route(route)
        if getattr(response, "streaming", False):
            recorded.streamed = True
    except Exception as error:
        error_once("reading a Django request's route", error)


def _keep_exception(sender: Any, request: Any = None, **kwargs: Any) -> None:
    """``got_request_exception``: Django is about to answer 500 for the exception being handled."""
    recorded = _recorded(request) if request is not None else None
    if recorded is not None:
        recorded.error = sys.exc_info()[1]


def _patch_base() -> None:
    from django.core.handlers.base import BaseHandler
    from django.core.signals import got_request_exception

    if getattr(BaseHandler.get_response, _MARK, False):
        return
    get_response = BaseHandler.get_response
    get_response_async = BaseHandler.get_response_async

    @functools.wraps(get_response)
    def get_response_noted(self: Any, request: Any) -> Any:
        response = get_response(self, request)
        _note(request, response)
        return response

    @functools.wraps(get_response_async)
    async def get_response_async_noted(self: Any, request: Any) -> Any:
        response = await get_response_async(self, request)
        _note(request, response)
        return response

    for attribute, wrapper in (("get_response", get_response_noted),
                               ("get_response_async", get_response_async_noted)):
        setattr(wrapper, _MARK, True)
        setattr(BaseHandler, attribute, wrapper)
    got_request_exception.connect(_keep_exception, weak=False, dispatch_uid="obs.agent._server.django")


def _patch_wsgi(handler_class: Any) -> None:
    from obs.agent._server.wsgi import StartResponse, WsgiRecorder

    call = handler_class.__call__
    if getattr(call, _MARK, False):
        return
    recorder = WsgiRecorder("DJANGO")

    @functools.wraps(call)
    def call_recorded(self: Any, environ: dict[str, Any], start_response: StartResponse) -> Any:
        return recorder.serve(functools.partial(call, self), environ, start_response)

    setattr(call_recorded, _MARK, True)
    handler_class.__call__ = call_recorded


def _no_route(scope: Any, root_path: str) -> None:
    """The route is set from Django's resolver (:func:`_note`), not from the scope."""
    return None


def _patch_asgi(handler_class: Any) -> None:
    from obs.agent._server.asgi import AsgiRecorder, record_calls

    record_calls(handler_class, lambda: AsgiRecorder(("DJANGO",), _no_route))
