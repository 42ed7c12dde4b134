"""The loguru bridge: a core patcher that queues each record, plus trace ids on loguru's console sinks.

Why a patcher and not a sink: loguru runs patchers once per record, on the thread that logs, before any
sink - so the span context is the caller's even for ``enqueue=True`` sinks - and a patcher costs a fraction
of what an extra sink costs, a second formatting pass of every line. It also
survives the usual ``logger.remove()`` at start-up, which would delete a sink of ours; but
``logger.configure(patcher=...)`` would replace it, so ``configure`` is wrapped to chain the app's own
patcher before ours.

loguru stays optional: nothing imports it. If it is loaded when the agent starts, the bridge installs at once;
otherwise a one-shot import hook installs it the moment ``import loguru`` finishes, before the app can log a
line (a periodic check would miss the first records and race with the app's own configure calls).

Console trace ids: the default stderr sink gets the :mod:`obs.agent._logs.console` suffix; ``serialize=True``
sinks on stdout/stderr get it inside the JSON (``record.extra.trace_id``). Those are added by the app after
start-up, so ``Logger.add`` is wrapped to wrap their sink when they appear (``configure(handlers=...)`` goes
through ``add`` too).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.machinery
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from obs.agent._compat import (
    handler_serializes,
    handler_sink,
    initializing,
    loguru_core,
    replace_handler_sink,
    sink_stream,
)
from obs.agent._logs.console import (
    current_trace_id,
    loguru_head_end,
    serialized_with_trace_id,
    with_trace_id,
)
from obs.agent._logs.records import (
    LoguruExtra,
    Record,
    exception_info,
    severity_number,
    severity_text,
    thread_state,
)
from obs.agent._support.import_hook import when_executed
from obs.agent._support.report import error_once
from opentelemetry.trace import get_current_span

if TYPE_CHECKING:
    from loguru import Message
    from loguru import Record as LoguruRecord

__all__ = ["LoguruBridge"]

_ERROR = 40
"""loguru's ERROR level number: a record there or above with an exception is grouped (obs.agent._errors)."""


class _Patcher:
    """The core patcher obs installs: the app's own core patcher first, then the capture."""

    def __init__(self, bridge: LoguruBridge, user: Callable[[LoguruRecord], None] | None) -> None:
        self.bridge = bridge
        self.user = user

    def __call__(self, record: LoguruRecord) -> None:
        if self.user is not None:
            self.user(record)
        self.bridge.capture(record)


class _TraceIdSink:
    """Wraps the default sink's stream writer; adds the trace id to lines of records made inside a span."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def write(self, message: Message) -> None:
        text: str = message
        try:
            record = message.record
            trace_id = _trace_id(record)
            if trace_id:
                text = self.with_trace_id(message, record, trace_id)
        except Exception:
            text = message
        self.inner.write(text)

    @staticmethod
    def with_trace_id(message: str, record: LoguruRecord, trace_id: int) -> str:
        return with_trace_id(message, loguru_head_end(message, record["message"]), trace_id)

    def stop(self) -> None:
        self.inner.stop()

    def tasks_to_complete(self) -> list[Any]:
        return list(self.inner.tasks_to_complete())


class _SerializedTraceIdSink(_TraceIdSink):
    """Wraps a ``serialize=True`` console sink's stream writer: the trace id goes in the JSON line's
    ``record.extra``, the one place of loguru's format meant for fields the app adds."""

    @staticmethod
    def with_trace_id(message: str, record: LoguruRecord, trace_id: int) -> str:
        return serialized_with_trace_id(message, record["extra"], trace_id)


def _trace_id(record: LoguruRecord) -> int:
    """The trace id the patcher took on the logging thread, else (no capture: no patcher) the current one."""
    extra = record["extra"]
    return getattr(extra, "trace_id", 0) if isinstance(extra, LoguruExtra) else current_trace_id()


def _console_stream(sink: Any) -> bool:
    stream = sink_stream(sink)
    return stream is not None and (
        stream is sys.stderr or stream is sys.stdout or stream is sys.__stderr__ or stream is sys.__stdout__
    )


class ImportHook:
    """Runs a callback right after a module (``loguru``) is first imported, then takes itself off
    ``sys.meta_path``.

    A meta path finder needs only ``find_spec``; not deriving from ``importlib.abc.MetaPathFinder`` spares
    the boot importing ``importlib.abc`` and ``importlib.resources``.
    """

    def __init__(self, on_import: Callable[[ModuleType], None], name: str = "loguru") -> None:
        self._on_import = on_import
        self._name = name

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self._name:
            return None
        spec = None
        for finder in list(sys.meta_path):
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module
        hook = self

        def exec_module(module: ModuleType) -> None:
            try:
                original(module)
            finally:
                del loader.exec_module  # the instance attribute set below; the class's method remains
            hook.remove()
            hook._on_import(module)

        # a loader without an instance dict refuses the attribute: loguru then stays unbridged, imports fine
        with contextlib.suppress(AttributeError):
            loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec

    def add(self) -> None:
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def remove(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)


class LoguruBridge:
    """Capture loguru records (``capture``), and/or add trace ids to its console sinks (``console``), and/or
    hand the exceptions logged at ERROR or above to the error groups (``errors``; alone, when records are not
    captured, the patcher does only that: a sink, loguru's public hook, would go with the app's usual
    ``logger.remove()``)."""

    def __init__(
        self,
        submit: Callable[[Record], None],
        threshold: int,
        *,
        capture: bool,
        console: bool,
        errors: bool = True,
    ) -> None:
        self._submit = submit
        self._threshold = threshold
        self._capture = capture
        self._console = console
        self._errors = errors
        self._hook = ImportHook(self._install)
        self._module: ModuleType | None = None
        self._configure: Any = None
        self._add: Any = None
        self._detached = False
        self._lock = threading.Lock()
        self._levels: dict[str, tuple[int, int, str]] = {}
        """level name -> (level number, severity number, severity text)"""

    def install(self) -> None:
        """Install now if the app already imported loguru, else when it does."""
        if not (self._capture or self._console or self._errors):
            return
        module = sys.modules.get("loguru")
        if module is None:
            self._hook.add()
        elif not initializing(module) or not when_executed("loguru", self._install):
            # half-done, the boot being inside its own import: the watcher calls back once it is done
            self._install(module)

    def uninstall(self) -> None:
        self._detached = True  # an install still waiting for the import to finish will not happen
        self._hook.remove()
        with self._lock:
            module, self._module = self._module, None
            if module is None:
                return
            try:
                self._restore(module)
            except Exception as error:
                error_once("detaching from loguru", error)

    @property
    def installed(self) -> bool:
        return self._module is not None

    def _install(self, module: ModuleType) -> None:
        with self._lock:
            if self._module is not None or self._detached:
                return
            try:
                logger = module.logger
                core = loguru_core(logger)
                if not hasattr(core, "patcher") or not isinstance(core.handlers, dict):
                    raise TypeError("unexpected loguru internals")
                if self._capture or self._errors:
                    self._chain(core)
                    self._wrap_configure(type(logger))
                if self._console:
                    self._wrap_add(type(logger))
                    for handler_id, handler in core.handlers.items():
                        self.wrap_sink(handler_id, handler)
                self._module = module
            except Exception as error:
                error_once("attaching to this version of loguru", error)

    def _chain(self, core: Any) -> None:
        current = core.patcher
        if isinstance(current, _Patcher) and current.bridge is self:
            return
        with core.lock:
            core.patcher = _Patcher(self, current)

    def _wrap_configure(self, logger_class: Any) -> None:
        original = logger_class.configure
        if getattr(original, "__obs__", False):
            return
        bridge = self

        @functools.wraps(original)
        def configure(logger: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(logger, *args, **kwargs)
            if bridge.installed:
                bridge._chain(loguru_core(logger))
            return result

        configure.__obs__ = True  # type: ignore[attr-defined]
        self._configure = original
        logger_class.configure = configure

    def _wrap_add(self, logger_class: Any) -> None:
        original = logger_class.add
        if getattr(original, "__obs__", False):
            return
        bridge = self

        @functools.wraps(original)
        def add(logger: Any, *args: Any, **kwargs: Any) -> Any:
            handler_id = original(logger, *args, **kwargs)
            if bridge.wraps_console_sinks:
                try:
                    bridge.wrap_sink(handler_id, loguru_core(logger).handlers.get(handler_id))
                except Exception as error:
                    error_once("adding trace ids to a loguru sink", error)
            return handler_id

        add.__obs__ = True  # type: ignore[attr-defined]
        self._add = original
        logger_class.add = add

    @property
    def wraps_console_sinks(self) -> bool:
        return self._console and self._add is not None

    @staticmethod
    def wrap_sink(handler_id: int, handler: Any) -> None:
        """The default stderr sink gets trace ids as a suffix, a ``serialize=True`` console sink as a field of
        its JSON; other sinks are the app's own (files, functions, formats we cannot read): left alone."""
        sink = handler_sink(handler)
        if isinstance(sink, _TraceIdSink) or not _console_stream(sink):
            return
        if handler_serializes(handler):
            replace_handler_sink(handler, _SerializedTraceIdSink(sink))
        elif handler_id == 0 and (sink_stream(sink) is sys.stderr or sink_stream(sink) is sys.__stderr__):
            replace_handler_sink(handler, _TraceIdSink(sink))

    def _restore(self, module: ModuleType) -> None:
        logger = module.logger
        core = loguru_core(logger)
        patcher = core.patcher
        if isinstance(patcher, _Patcher) and patcher.bridge is self:
            with core.lock:
                core.patcher = patcher.user
        if self._configure is not None:
            type(logger).configure = self._configure
            self._configure = None
        if self._add is not None:
            type(logger).add = self._add
            self._add = None
        for handler in core.handlers.values():
            sink = handler_sink(handler)
            if isinstance(sink, _TraceIdSink):
                replace_handler_sink(handler, sink.inner)

    def _group(self, record: LoguruRecord, level: int) -> None:
        exc = record["exception"]
        if exc and level >= _ERROR and self._errors:
            from obs.agent._errors.record import logged

            logged(exc.value, get_current_span().get_span_context().trace_id)

    def capture(self, record: LoguruRecord) -> None:
        """The patcher's work, on the logging thread: mark the record, take the span context, queue it."""
        try:
            if not self._capture:
                self._group(record, record["level"].no)
                return
            context = get_current_span().get_span_context()
            extra = record["extra"] = LoguruExtra(record["extra"])
            extra.trace_id = context.trace_id
            state = thread_state
            if state.in_handlers or state.exporting:
                return  # a stdlib record forwarded by an InterceptHandler (queued by the stdlib bridge)
            level = record["level"]
            severity = self._levels.get(level.name)
            if severity is None:
                severity = (level.no, severity_number(level.no), severity_text(level.name))
                self._levels[level.name] = severity
            if severity[0] < self._threshold:
                self._group(record, severity[0])  # not exported, still a failure
                return
            exc = record["exception"]
            if exc and severity[0] >= _ERROR and self._errors:
                from obs.agent._errors.record import logged

                logged(exc.value, context.trace_id)
            self._submit((
                time.time_ns(),
                severity[1],
                severity[2],
                record["message"],
                record["name"] or "",
                record["file"].path,
                record["function"],
                record["line"],
                extra,
                exception_info(exc.type, exc.value, exc.traceback) if exc else None,
                context.trace_id,
                context.span_id,
                int(context.trace_flags),
                None,
            ))
        except Exception as error:
            error_once("bridging a loguru record", error)
