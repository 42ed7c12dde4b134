"""Django's ORM queries as client spans, whatever the database, with no configuration.

Why here and not the drivers' instrumentations: those see Django's connections only for some drivers (the
sqlite3 one does; psycopg's loses its traced cursor when Django sets its own ``cursor_factory``), and give
a span without ``db.operation.name`` or ``db.collection.name``. Django itself offers a hook for every
query: a function in ``connection.execute_wrappers``, which each connection gets when it opens (the
``connection_created`` signal). One span per query, following the stable database conventions:
``db.system.name``, ``db.namespace``, ``db.operation.name``, ``db.collection.name``, ``db.query.text``
(the statement with its placeholders: parameter values are never recorded), ``server.address`` and
``server.port``; a failed query is an error span with ``error.type`` (the exception's message is left out:
drivers put row values in it). The driver's own instrumentation, if it is on too, is quiet for the
duration, so a query is one span, not two.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from obs.agent._support.report import error_once

__all__ = ["describe_statement", "query_span", "watch_connections"]

SYSTEMS: Final = {"sqlite": "sqlite", "postgresql": "postgresql", "mysql": "mysql", "oracle": "oracle.db"}
"""Django's ``connection.vendor`` -> ``db.system.name``."""
_TEXT_LIMIT: Final = 4096
_COLLECTION: Final = re.compile(
    r"""\b(?:FROM|INTO|UPDATE|TABLE(?:\s+IF\s+(?:NOT\s+)?EXISTS)?)\s+["`\[]?([\w.$]+)["`\]]?""",
    re.IGNORECASE,
)
_statements: dict[str, tuple[str, str | None]] = {}
_STATEMENTS_KEPT: Final = 1024


def describe_statement(sql: str) -> tuple[str, str | None]:
    """``(db.operation.name, db.collection.name)`` of a statement: its first keyword, and the first table
    it reads or writes (None when it names none). A server runs a few hundred distinct statements: each
    is parsed once (up to 1024 of them)."""
    known = _statements.get(sql)
    if known is not None:
        return known
    words = sql.lstrip(" \t\r\n(").split(None, 1)
    operation = words[0].upper() if words else ""
    match = _COLLECTION.search(sql)
    known = (operation, match.group(1) if match else None)
    if len(_statements) < _STATEMENTS_KEPT:
        _statements[sql] = known
    return known


def _connection_attributes(connection: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {"db.system.name": SYSTEMS.get(connection.vendor, connection.vendor)}
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


class _Tracer:
    """The tracer, taken from the global provider at the first query (the agent sets it before)."""

    tracer: Any = None


def query_span(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """An ``execute_wrappers`` entry: the query as a CLIENT span around Django's own execution."""
    try:
        from opentelemetry import trace
        from opentelemetry.instrumentation.utils import is_instrumentation_enabled, suppress_instrumentation

        tracer = _Tracer.tracer
        if tracer is None:
            from obs.agent.catalog import DJANGO_DB_SCOPE

            from obs import __version__

            tracer = _Tracer.tracer = trace.get_tracer(DJANGO_DB_SCOPE, __version__)
        if not is_instrumentation_enabled():
            return execute(sql, params, many, context)
        parent = trace.get_current_span().get_span_context()
        if parent.is_valid and not parent.trace_flags.sampled:
            return execute(sql, params, many, context)  # its request was not sampled: neither is the query
        text = sql if isinstance(sql, str) else str(sql)
        operation, collection = describe_statement(text)
        connection = context.get("connection")
        attributes = _connection_attributes(connection) if connection is not None else {}
        if operation:
            attributes["db.operation.name"] = operation
        if collection:
            attributes["db.collection.name"] = collection
        attributes["db.query.text"] = text[:_TEXT_LIMIT]
        if many:
            attributes["db.operation.batch.size"] = len(params) if isinstance(params, list | tuple) else 0
        name = " ".join(part for part in (operation, collection) if part) or attributes["db.system.name"]
        span = tracer.start_span(name, kind=trace.SpanKind.CLIENT, attributes=attributes)
    except Exception as error:
        error_once("recording a Django query", error)
        return execute(sql, params, many, context)
    try:
        with (trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False),
              suppress_instrumentation()):
            return execute(sql, params, many, context)
    except BaseException as failure:
        kind = type(failure)
        module, name = kind.__module__, kind.__qualname__
        span.set_attribute("error.type", name if module == "builtins" else f"{module}.{name}")
        span.set_status(trace.Status(trace.StatusCode.ERROR, kind.__name__))
        raise
    finally:
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
