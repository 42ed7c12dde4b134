"""Django's ORM queries as client spans, whatever the database, with no configuration.

Why here and not the drivers' instrumentations: those see Django's connections only for some drivers (the
sqlite3 one does; psycopg's loses its traced cursor when Django sets its own ``cursor_factory``), and give
a span without ``db.operation.name`` or ``db.collection.name``. Django itself offers a hook for every
query: a function in ``connection.execute_wrappers``, which each connection gets when it opens (the
``connection_created`` signal). One span per query, following the stable database conventions:
``db.system.name``, ``db.namespace``, ``db.operation.name``, ``db.collection.name``, ``db.query.text``
(the statement with its placeholders: parameter values are never recorded, and the literals Django writes
in, such as ``LIMIT 21``, become ``?`` when it is sent: obs.agent._support.sql_text), ``server.address`` and
``server.port``; a failed query is an error span with ``error.type`` (the exception's message is left out:
drivers put row values in it); every query, sampled or not, is measured in ``db.client.operation.duration``
(the statement read by obs.agent._integrations.database, as for the drivers). The driver's own
instrumentation, if it is on too, is quiet for the duration, so a query is one span, not two.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

from obs.agent._integrations.database import describe, is_mariadb
from obs.agent._support.report import error_once

__all__ = ["query_span", "watch_connections"]

SYSTEMS: Final = {"sqlite": "sqlite", "postgresql": "postgresql", "mysql": "mysql", "oracle": "oracle.db"}
"""Django's ``connection.vendor`` -> ``db.system.name``."""
_TEXT_LIMIT: Final = 4096


def _system(connection: Any) -> str:
    """The vendor's system; Django's ``mysql`` backend on MariaDB is ``mariadb``, read from the open driver
    connection's handshake (Django's own ``mysql_is_mariadb`` would run a query)."""
    system = SYSTEMS.get(connection.vendor, connection.vendor)
    if system == "mysql" and is_mariadb(getattr(connection, "connection", None)):
        return "mariadb"
    return str(system)


def _connection_attributes(connection: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {"db.system.name": _system(connection)}
    settings = getattr(connection, "settings_dict", None) or {}
    name = settings.get("NAME")
    if name:
        attributes["db.namespace"] = str(name)
    host = settings.get("HOST")
    if host and not str(host).startswith("/"):
        attributes["server.address"] = str(host)
        port = settings.get("PORT")
        if port and str(port).isdigit():
            attributes["server.port"] = int(port)
    return attributes


class _Instruments:
    """The tracer and the duration histogram, taken from the global providers at the first query (the agent
    sets them before)."""

    tracer: Any = None
    duration: Any = None


def _instruments() -> tuple[Any, Any]:
    if _Instruments.tracer is None:
        from obs.agent import catalog
        from opentelemetry import metrics, trace

        from obs import __version__

        _Instruments.duration = metrics.get_meter(catalog.DJANGO_DB_SCOPE, __version__).create_histogram(
            catalog.DB_CLIENT_DURATION.name, catalog.DB_CLIENT_DURATION.unit,
            catalog.DB_CLIENT_DURATION.description)
        _Instruments.tracer = trace.get_tracer(catalog.DJANGO_DB_SCOPE, __version__)
    return _Instruments.tracer, _Instruments.duration


_METRIC_ATTRIBUTES: Final[tuple[str, ...]] = (
    "db.system.name", "db.operation.name", "db.collection.name", "db.namespace", "server.address",
)


def query_span(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """An ``execute_wrappers`` entry: the query as a CLIENT span around Django's own execution (when its
    request is sampled), and its duration in ``db.client.operation.duration`` (always)."""
    try:
        from opentelemetry import trace
        from opentelemetry.instrumentation.utils import is_instrumentation_enabled, suppress_instrumentation

        if not is_instrumentation_enabled():
            return execute(sql, params, many, context)
        tracer, duration = _instruments()
        text = sql if isinstance(sql, str) else str(sql)
        connection = context.get("connection")
        attributes = _connection_attributes(connection) if connection is not None else {}
        attributes.update(describe(text))
        measured: dict[str, Any] = {key: attributes[key] for key in _METRIC_ATTRIBUTES if key in attributes}
        span = None
        parent = trace.get_current_span().get_span_context()
        if not parent.is_valid or parent.trace_flags.sampled:  # an unsampled request's queries: no span
            attributes["db.query.text"] = text[:_TEXT_LIMIT]
            if many:
                attributes["db.operation.batch.size"] = len(params) if isinstance(params, list | tuple) else 0
            operation, collection = attributes.get("db.operation.name"), attributes.get("db.collection.name")
            name = " ".join(part for part in (operation, collection) if part) or attributes["db.system.name"]
            span = tracer.start_span(name, kind=trace.SpanKind.CLIENT, attributes=attributes)
    except Exception as error:
        error_once("recording a Django query", error)
        return execute(sql, params, many, context)
    started = time.perf_counter()
    try:
        if span is None:
            return execute(sql, params, many, context)
        with (trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False),
              suppress_instrumentation()):
            return execute(sql, params, many, context)
    except BaseException as failure:
        kind = type(failure)
        module, name = kind.__module__, kind.__qualname__
        measured["error.type"] = name if module == "builtins" else f"{module}.{name}"
        if span is not None:
            span.set_attribute("error.type", measured["error.type"])
            span.set_status(trace.Status(trace.StatusCode.ERROR, kind.__name__))
        raise
    finally:
        try:
            duration.record(time.perf_counter() - started, measured)
        except Exception as error:
            error_once("recording a Django query's duration", error)
        if span is not None:
            span.end()


def _on_connection(sender: Any, connection: Any = None, **kwargs: Any) -> None:
    """``connection_created``: the connection's queries go through :func:`query_span` (first, so a wrapper
    the app adds with ``connection.execute_wrapper()`` runs inside the span)."""
    wrappers = getattr(connection, "execute_wrappers", None)
    if isinstance(wrappers, list) and query_span not in wrappers:
        wrappers.insert(0, query_span)


def watch_connections(connection_created: Any) -> None:
    """Give every Django connection opened from now on the query span."""
    connection_created.connect(_on_connection, weak=False, dispatch_uid=__name__)
