"""asyncpg queries as ``db.client.operation.duration``, and a failed ``prepare`` as an error span.

Why: contrib 0.66's asyncpg instrumentation gives spans only (named after the operation alone), and it spans
the execution of a prepared statement but not its preparation, so a query that PostgreSQL rejects while
preparing it (a missing column, the way SQLAlchemy's asyncpg dialect runs every query) left no span at all.
Measured around asyncpg's public methods, whether or not the trace is sampled, with the operation and the
table read from the statement (obs.agent._integrations.database.describe). The wrappers go on before
contrib's, so they run inside its span and name it as the DB-API spans are named (``SELECT items``). asyncpg
has no public way to the server's address: the metric goes without ``server.address`` (the spans carry it).
Never breaks a query.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from obs.agent import catalog
from obs.agent._integrations.database import describe, name_span
from obs.agent._support.report import error_once

__all__ = ["instrument_asyncpg"]

_histogram: list[Any] = []
_done = [False]
_CONNECTION = ("execute", "executemany", "fetch", "fetchval", "fetchrow")
_PREPARED = ("fetch", "fetchval", "fetchrow", "executemany", "fetchmany")


def _record(statement: str, started: float, error: BaseException | None) -> None:
    try:
        if not _histogram:
            from opentelemetry import metrics

            meter = metrics.get_meter("obs.asyncpg")
            _histogram.append(meter.create_histogram(
                catalog.DB_CLIENT_DURATION.name, catalog.DB_CLIENT_DURATION.unit,
                catalog.DB_CLIENT_DURATION.description,
            ))
        attributes: dict[str, Any] = {"db.system.name": "postgresql", **describe(statement)}
        if error is not None:
            attributes["error.type"] = type(error).__qualname__
        _histogram[0].record(time.perf_counter() - started, attributes)
    except Exception as failure:
        error_once("the asyncpg operation metric", failure)


def _failed_span(statement: str, started_ns: int, error: BaseException) -> None:
    """The span contrib leaves out: the query failed while PostgreSQL prepared it."""
    try:
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        described = describe(statement)
        name = " ".join(part for part in (described.get("db.operation.name"), described.get(
            "db.collection.name")) if part) or "postgresql"
        span = trace.get_tracer("obs.asyncpg").start_span(
            name, kind=SpanKind.CLIENT, start_time=started_ns,
            attributes={"db.system.name": "postgresql", "db.query.text": statement, **described,
                        "error.type": type(error).__qualname__},
        )
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, str(error)))
        span.end()
    except Exception as failure:
        error_once("the asyncpg error span", failure)


def _statement_of_args(instance: Any, args: tuple[Any, ...]) -> str:
    return args[0] if args and isinstance(args[0], str) else ""


def _statement_of_prepared(instance: Any, args: tuple[Any, ...]) -> str:
    query = instance.get_query()
    return query if isinstance(query, str) else ""


def _timed(
    statement: Callable[[Any, tuple[Any, ...]], str], span_on_failure: bool = False
) -> Callable[..., Any]:
    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> Any:
        started, started_ns = time.perf_counter(), time.time_ns()
        if not span_on_failure:
            text = statement(instance, args)
            if text:
                name_span(describe(text))
        try:
            result = await wrapped(*args, **kwargs)
        except Exception as error:
            text = statement(instance, args)
            if text:
                _record(text, started, error)
                if span_on_failure:
                    _failed_span(text, started_ns, error)
            raise
        if not span_on_failure:  # a successful prepare is not an operation: its execution is
            text = statement(instance, args)
            if text:
                _record(text, started, None)
        return result

    return wrapper


def instrument_asyncpg() -> None:
    """Wrap asyncpg's connection and prepared-statement methods, once. Never raises."""
    if _done[0]:
        return
    _done[0] = True
    try:
        from wrapt import wrap_function_wrapper

        for method in _CONNECTION:
            wrap_function_wrapper("asyncpg.connection", f"Connection.{method}", _timed(_statement_of_args))
        wrap_function_wrapper("asyncpg.connection", "Connection.prepare", _timed(_statement_of_args, True))
        for method in _PREPARED:
            wrap_function_wrapper("asyncpg.prepared_stmt", f"PreparedStatement.{method}",
                                  _timed(_statement_of_prepared))
    except Exception as error:
        error_once("the asyncpg operation metric", error)
