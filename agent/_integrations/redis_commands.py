"""Redis commands as ``db.client.operation.duration`` (``db.system.name="redis"``), for every command.

Why obs's own: contrib 0.66's redis instrumentation gives spans only, so the Database dashboard row would have
nothing from Redis. The conventions count Redis among databases: the command is the operation (``GET``),
and the client's host is ``server.address``; pipelines count as one ``PIPELINE`` operation. Measured around
the client's public ``execute_command``/``execute``, whether or not the trace is sampled; errors carry
``error.type``. Never breaks a command: a failure to record is said once.

The wrappers go on before contrib's, so they run inside its span: a command given whole in its first argument
(``execute_command("SET key value")``, which redis-py accepts) named contrib's span after all of it, value
included; the span is renamed after the command alone (``SET``), and the scrubber replaces the arguments in
``db.query.text`` (obs.agent._support.sql_text.command_head).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from obs.agent import catalog
from obs.agent._support import scrub
from obs.agent._support.report import error_once
from obs.agent._support.sql_text import command_head

__all__ = ["instrument_redis"]

_histogram: list[Any] = []
_done = [False]


def _record(instance: Any, operation: str, started: float, error: BaseException | None) -> None:
    try:
        if not _histogram:
            from opentelemetry import metrics

            meter = metrics.get_meter("obs.redis")
            _histogram.append(meter.create_histogram(
                catalog.DB_CLIENT_DURATION.name, catalog.DB_CLIENT_DURATION.unit,
                catalog.DB_CLIENT_DURATION.description,
            ))
        attributes: dict[str, Any] = {"db.system.name": "redis", "db.operation.name": operation}
        pool = getattr(instance, "connection_pool", None)
        connection = getattr(pool, "connection_kwargs", None) or {}
        host = connection.get("host") or connection.get("path")
        if host:
            attributes["server.address"] = str(host)
        if "db" in connection:
            attributes["db.namespace"] = str(connection["db"])
        if error is not None:
            attributes["error.type"] = type(error).__qualname__
        _histogram[0].record(time.perf_counter() - started, attributes)
    except Exception as failure:
        error_once("the Redis operation metric", failure)


def _operation(args: tuple[Any, ...]) -> str:
    if not args:
        return ""
    first = args[0]
    text = first.decode("utf-8", "replace") if isinstance(first, bytes) else str(first)
    return text.split(" ", 1)[0].upper()


def _first_words(args: tuple[Any, ...]) -> str | None:
    """The first argument when it holds more than a command name (``"SET key value"``), else None."""
    if not args:
        return None
    first = args[0]
    if isinstance(first, bytes):
        first = first.decode("utf-8", "replace")
    if not isinstance(first, str) or first.isalnum():  # the usual case, "SET": no split
        return None
    return first if len(first.split(None, 1)) > 1 else None


def _rename(instance: Any, args: tuple[Any, ...], pipeline: bool) -> None:
    """Name contrib's current span after the command(s) alone, when a first argument holds values."""
    try:
        if not scrub.current().enabled:
            return
        if pipeline:
            stack = getattr(instance, "command_stack", None) or ()
            firsts = [getattr(command, "args", None) or command[0] for command in stack]
        else:
            firsts = [args]
        if not any(_first_words(tuple(command)) is not None for command in firsts):
            return
        from opentelemetry import trace

        span = trace.get_current_span()
        if span.is_recording():
            names = []
            for command in firsts:
                first = command[0] if command else ""
                text = first.decode("utf-8", "replace") if isinstance(first, bytes) else str(first)
                names.append(command_head(text)[0])
            span.update_name(" ".join(names))
    except Exception as error:
        error_once("naming a Redis span", error)


def _sync(operation: Callable[[tuple[Any, ...]], str], pipeline: bool = False) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
        _rename(instance, args, pipeline)
        started = time.perf_counter()
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as error:
            _record(instance, operation(args), started, error)
            raise
        _record(instance, operation(args), started, None)
        return result

    return wrapper


def _async(operation: Callable[[tuple[Any, ...]], str], pipeline: bool = False) -> Callable[..., Any]:
    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> Any:
        _rename(instance, args, pipeline)
        started = time.perf_counter()
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as error:
            _record(instance, operation(args), started, error)
            raise
        _record(instance, operation(args), started, None)
        return result

    return wrapper


def instrument_redis() -> None:
    """Wrap the sync and asyncio clients and pipelines, once. Never raises."""
    if _done[0]:
        return
    _done[0] = True
    try:
        from wrapt import wrap_function_wrapper

        def pipeline(_args: tuple[Any, ...]) -> str:
            return "PIPELINE"

        wrap_function_wrapper("redis.client", "Redis.execute_command", _sync(_operation))
        wrap_function_wrapper("redis.client", "Pipeline.execute", _sync(pipeline, True))
        wrap_function_wrapper("redis.asyncio.client", "Redis.execute_command", _async(_operation))
        wrap_function_wrapper("redis.asyncio.client", "Pipeline.execute", _async(pipeline, True))
    except Exception as error:
        error_once("the Redis operation metric", error)
