"""Database calls: one span and one ``db.client.operation.duration`` measurement per query, at the driver.

Why the driver (DB-API) layer and not the ORM: the driver instrumentations (psycopg, psycopg2, pymysql,
mysqlclient, sqlite3) patch the driver module when it is imported, so an SQLAlchemy engine made at import
time, in an app factory, or async (psycopg's async cursors) is covered whatever the order; they record the
stable metric whether or not the trace is sampled; and SQLAlchemy's own instrumentation only sees engines
made after it loaded and would double every span. So ``sqlalchemy`` is served by the drivers under it
(:func:`obs.agent._instrument.select`).

What this module adds to contrib 0.66's DB-API layer: ``db.operation.name`` in upper case and
``db.collection.name`` read from the statement (span and metric), the span name the conventions ask for
(``SELECT items``), and ``db.system.name = "mariadb"`` for a MySQL driver connected to MariaDB (contrib says
``mysql`` whatever the server; the conventions give MariaDB its own name, and the server tells which it is in
the handshake, so no query is needed). The statement is read, never its parameters (contrib captures none by
default). contrib's second histogram, ``db.client.response.returned_rows``, which nothing obs makes reads, is
not recorded (and dropped by a view where it still is: obs.agent.catalog.DROPPED_INSTRUMENTS).
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Awaitable, Callable
from typing import Any

from obs.agent._support.report import error_once
from obs.agent._support.sql_text import sanitize
from opentelemetry import trace

__all__ = ["describe", "enhance_dbapi", "is_mariadb", "name_span"]

OPERATION, COLLECTION = "db.operation.name", "db.collection.name"

_PART = r'(?:"[^"]+"|`[^`]+`|[\w$]+)'
_NAME = rf"({_PART}(?:\.{_PART})?)"
_COLLECTION = {
    "SELECT": re.compile(rf"\bFROM\s+{_NAME}", re.IGNORECASE),
    "DELETE": re.compile(rf"\bFROM\s+{_NAME}", re.IGNORECASE),
    "INSERT": re.compile(rf"\bINTO\s+{_NAME}", re.IGNORECASE),
    "REPLACE": re.compile(rf"\bINTO\s+{_NAME}", re.IGNORECASE),
    "UPDATE": re.compile(rf"^\s*UPDATE\s+(?:ONLY\s+)?{_NAME}", re.IGNORECASE),
    "CREATE": re.compile(rf"\bTABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}", re.IGNORECASE),
    "DROP": re.compile(rf"\bTABLE\s+(?:IF\s+EXISTS\s+)?{_NAME}", re.IGNORECASE),
    "ALTER": re.compile(rf"\bTABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_NAME}", re.IGNORECASE),
    "TRUNCATE": re.compile(rf"^\s*TRUNCATE\s+(?:TABLE\s+)?{_NAME}", re.IGNORECASE),
}
_COMMENTS = re.compile(r"^\s*(?:(?:/\*.*?\*/|--[^\n]*\n)\s*)*", re.DOTALL)
_KEYWORDS = frozenset({"SELECT", "LATERAL", "UNNEST", "GENERATE_SERIES"})

_cache: dict[str, dict[str, str]] = {}
_CACHE_SIZE = 2048

_enhanced: list[type] = []
"""The DB-API tracer class once enhanced (once per process)."""

_described: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("obs_db", default=None)


def describe(statement: str) -> dict[str, str]:
    """``db.operation.name`` (upper case) and, for single-table statements, ``db.collection.name``, read
    with its literals replaced (``SELECT 'from x'`` names no table; the text is cached for the encoder)."""
    found = _cache.get(statement)
    if found is not None:
        return found
    text = _COMMENTS.sub("", sanitize(statement[:4096]))  # a table named in a literal is no table
    words = text.split(None, 1)
    described: dict[str, str] = {}
    if words:
        operation = words[0].rstrip(";").upper()
        described[OPERATION] = operation
        pattern = _COLLECTION.get(operation)
        match = pattern.search(text) if pattern is not None else None
        if match is not None and match.group(1).upper() not in _KEYWORDS:
            described[COLLECTION] = match.group(1).replace('"', "").replace("`", "")
    if len(_cache) >= _CACHE_SIZE:
        _cache.clear()
    _cache[statement] = described
    return described


def _statement(args: tuple[Any, ...]) -> str | None:
    if not args:
        return None
    statement = args[0]
    if isinstance(statement, bytes):
        return statement.decode("utf-8", "replace")
    if isinstance(statement, str):
        return statement
    return None  # psycopg's sql.Composed needs a connection to become text: left as contrib names it


def name_span(described: dict[str, str]) -> None:
    """Put the operation and collection on the current span, and name it ``OPERATION collection``."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attributes(described)
    if COLLECTION in described:
        span.update_name(f"{described[OPERATION]} {described[COLLECTION]}")


def is_mariadb(connection: object) -> bool:
    """Whether a MySQL driver's open connection is to MariaDB, from the version the server sent when it
    connected: PyMySQL's ``server_version``, ``get_server_info()`` of mysqlclient and mysql-connector."""
    version = getattr(connection, "server_version", None)
    if not isinstance(version, str):
        info = getattr(connection, "get_server_info", None)
        version = info() if callable(info) else None
    return isinstance(version, str) and "mariadb" in version.lower()


def _current() -> dict[str, str] | None:
    return _described.get()


def enhance_dbapi() -> None:
    """Complete the DB-API layer's spans and metric (see the module docstring). Once; never raises."""
    try:
        from obs.agent._compat import extend_dbapi_metric_attributes, skip_dbapi_returned_rows
        from opentelemetry.instrumentation.dbapi import CursorTracer, DatabaseApiIntegration
    except Exception as error:
        error_once("the database conventions", error)
        return
    if _enhanced:
        return
    _enhanced.append(CursorTracer)
    extend_dbapi_metric_attributes(_current)
    skip_dbapi_returned_rows()
    sync_execution = CursorTracer.traced_execution
    async_execution = CursorTracer.traced_execution_async

    def traced_execution(self: Any, cursor: Any, query_method: Callable[..., Any], *args: Any,
                         **kwargs: Any) -> Any:
        statement = _statement(args)
        if statement is None:
            return sync_execution(self, cursor, query_method, *args, **kwargs)
        described = describe(statement)

        def named(*call_args: Any, **call_kwargs: Any) -> Any:
            name_span(described)
            return query_method(*call_args, **call_kwargs)

        token = _described.set(described)
        try:
            return sync_execution(self, cursor, named, *args, **kwargs)
        finally:
            _described.reset(token)

    async def traced_execution_async(self: Any, cursor: Any, query_method: Callable[..., Awaitable[Any]],
                                     *args: Any, **kwargs: Any) -> Any:
        statement = _statement(args)
        if statement is None:
            return await async_execution(self, cursor, query_method, *args, **kwargs)
        described = describe(statement)

        async def named(*call_args: Any, **call_kwargs: Any) -> Any:
            name_span(described)
            return await query_method(*call_args, **call_kwargs)

        token = _described.set(described)
        try:
            return await async_execution(self, cursor, named, *args, **kwargs)
        finally:
            _described.reset(token)

    CursorTracer.traced_execution = traced_execution  # type: ignore[method-assign]
    CursorTracer.traced_execution_async = traced_execution_async  # type: ignore[method-assign]
    _connection_shortcuts()
    _name_mariadb(DatabaseApiIntegration)


def _name_mariadb(integration: type) -> None:
    """A connection's system is known once it is open: contrib reads the connection's attributes then (one
    integration object per connection), and its spans and metric take ``database_system`` from there."""
    read_attributes = integration.get_connection_attributes  # type: ignore[attr-defined]

    def get_connection_attributes(self: Any, connection: object) -> None:
        read_attributes(self, connection)
        try:
            if self.database_system == "mysql" and is_mariadb(connection):
                self.database_system = "mariadb"
                if isinstance(self.name, str) and self.name.startswith("mysql"):
                    self.name = "mariadb" + self.name[len("mysql"):]
        except Exception as error:
            error_once("naming a MariaDB connection", error)

    integration.get_connection_attributes = get_connection_attributes  # type: ignore[attr-defined]


def _connection_shortcuts() -> None:
    """``connection.execute(...)`` (sqlite3's shortcut, the way most sqlite3 code queries) bypasses contrib's
    connection proxy, which only traces cursors: route it through a traced cursor, as sqlite3 itself does."""
    from opentelemetry.instrumentation.dbapi import TracedConnectionProxy

    def shortcut(method: str) -> Callable[..., Any]:
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not hasattr(self.__wrapped__, method):
                raise AttributeError(method)
            return getattr(self.cursor(), method)(*args, **kwargs)

        call.__name__ = method
        return call

    for method in ("execute", "executemany"):
        if method not in TracedConnectionProxy.__dict__:
            setattr(TracedConnectionProxy, method, shortcut(method))
