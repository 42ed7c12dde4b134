"""The structlog bridge: every event becomes an OpenTelemetry log with its bound context as attributes.

structlog hands each event (a dict: the message under ``event``, plus everything bound with ``bind()``,
``structlog.contextvars`` and the processors) to its last processor, the renderer, which makes the line.
The bridge wraps that last processor, through structlog's public ``configure`` (at import, and again after
each ``configure``/``configure_once``/``reset_defaults`` of the app's): the wrapper queues the event with
the current span's trace context, then lets the renderer do exactly what it did.

A logger given processors of its own (``structlog.wrap_logger(logger, processors=...)``,
``get_logger(processors=...)``, a ``BoundLogger(logger, processors, context)`` made directly) never reads the
configuration: every bound logger is built by ``BoundLoggerBase.__init__`` (``bind()`` and the lazy proxy
included), so the bridge wraps that constructor and gives such a logger the same wrapper on its last
processor. A chain that has the wrapper already (the configured one, or a copy of it) is left as it is:
each event is queued once.

Whichever way structlog writes: straight to its own ``PrintLogger`` (then the wrapper also puts the trace id
in the rendered line, as :mod:`obs.agent._logs.console` does: a field of a JSON line, a `` trace_id=`` pair
otherwise), or through stdlib logging (the stdlib bridge then skips that record, already queued with more,
and the stdlib console hook adds the trace id).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping, MutableMapping
from types import ModuleType
from typing import Any, Final

from obs.agent._compat import initializing
from obs.agent._logs.console import current_trace_id, with_trace_id
from obs.agent._logs.loguru_bridge import ImportHook
from obs.agent._logs.records import Record, exception_info, severity_number, severity_text, thread_state
from obs.agent._support.import_hook import when_executed
from obs.agent._support.report import error_once
from opentelemetry.trace import get_current_span

__all__ = ["StructlogBridge"]

_LEVELS: Final = {
    "debug": 10, "info": 20, "msg": 20, "warning": 30, "warn": 30, "error": 40, "exception": 40,
    "critical": 50, "fatal": 50,
}
_NAMES: Final = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}
_NOT_ATTRIBUTES: Final = frozenset({
    "event", "level", "timestamp", "exc_info", "exception", "logger", "_record", "_from_structlog",
})
"""Keys that are the record's own fields (message, level, time, exception, logger name) or structlog's
stdlib plumbing, not context."""
_CONFIGURE_FUNCTIONS: Final = ("configure", "configure_once", "reset_defaults")


class _Capture:
    """Wraps structlog's last processor: queue the event, then render it as before."""

    def __init__(self, bridge: StructlogBridge, renderer: Callable[..., Any]) -> None:
        self.bridge = bridge
        self.renderer = renderer

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
        bridge = self.bridge
        stdlib = isinstance(logger, logging.Logger)
        if bridge.capture_events:
            bridge.capture(logger, method_name, event_dict)
        rendered = self.renderer(logger, method_name, event_dict)
        try:
            if stdlib and bridge.capture_events:
                thread_state.structlog_message = _stdlib_message(rendered)
            elif not stdlib and bridge.console and isinstance(rendered, str):
                trace_id = current_trace_id()
                if trace_id:
                    newline = rendered.find("\n")
                    rendered = with_trace_id(rendered, len(rendered) if newline < 0 else newline, trace_id)
        except Exception as error:
            error_once("bridging a structlog event", error)
        return rendered

    def __getattr__(self, name: str) -> Any:
        return getattr(self.renderer, name)  # code that inspects the renderer sees the renderer


def _stdlib_message(rendered: Any) -> Any:
    """What the stdlib logger will get as ``record.msg`` from this processor's result."""
    if isinstance(rendered, tuple) and rendered and isinstance(rendered[0], tuple) and rendered[0]:
        return rendered[0][0]  # (args, kwargs): ProcessorFormatter.wrap_for_formatter's event dict
    return rendered


class StructlogBridge:
    """Capture structlog events (``capture``) and/or add trace ids to its own console lines (``console``)."""

    def __init__(
        self,
        submit: Callable[[Record], None],
        threshold: int,
        *,
        capture: bool,
        console: bool,
    ) -> None:
        self._submit = submit
        self._threshold = threshold
        self.capture_events = capture
        self.console = console
        self._hook = ImportHook(self._install, "structlog")
        self._module: ModuleType | None = None
        self._originals: dict[str, Any] = {}
        self._init: Any = None
        """``BoundLoggerBase.__init__`` as it was (set when wrapped)."""
        self._detached = False

    def install(self) -> None:
        """Install now if the app already imported structlog, else when it does."""
        if not (self.capture_events or self.console):
            return
        module = sys.modules.get("structlog")
        if module is None:
            self._hook.add()
        elif not initializing(module) or not when_executed("structlog", self._install):
            # half-done, the boot being inside its own import: the watcher calls back once it is done
            self._install(module)

    def uninstall(self) -> None:
        self._detached = True  # an install still waiting for the import to finish will not happen
        self._hook.remove()
        module, self._module = self._module, None
        if module is None:
            return
        try:
            for name, original in self._originals.items():
                setattr(module, name, original)
            self._originals = {}
            init, self._init = self._init, None
            if init is not None:
                module.BoundLoggerBase.__init__ = init
            processors = list(module.get_config()["processors"])
            if processors and isinstance(processors[-1], _Capture):
                module.configure(processors=[*processors[:-1], processors[-1].renderer])
        except Exception as error:
            error_once("detaching from structlog", error)

    def _install(self, module: ModuleType) -> None:
        if self._module is not None or self._detached:
            return
        try:
            configure = module.configure
            for name in _CONFIGURE_FUNCTIONS:
                self._originals[name] = getattr(module, name)
                setattr(module, name, self._rewrapping(self._originals[name]))
            self._module = module
            self._wrap_renderer(module, configure)
            self._wrap_constructor(module.BoundLoggerBase)
        except Exception as error:
            error_once("attaching to this version of structlog", error)

    def _wrap_constructor(self, base: type[Any]) -> None:
        original = base.__dict__["__init__"]
        if getattr(original, "__obs__", False):
            return
        bridge = self

        def __init__(bound: Any, logger: Any, processors: Any, context: Any) -> None:
            # bind() comes here each time: the configured chain (a list ending with ours) goes straight on
            if type(processors) is not list or not processors or type(processors[-1]) is not _Capture:
                processors = bridge.own_chain(processors)
            original(bound, logger, processors, context)

        __init__.__obs__ = True  # type: ignore[attr-defined]
        __init__.__wrapped__ = original  # type: ignore[attr-defined]
        __init__.__doc__ = original.__doc__
        self._init = original
        base.__init__ = __init__

    def own_chain(self, processors: Any) -> Any:
        """A logger's processors with the capture wrapper on the last one, unless some processor is one
        already (the configured chain) or the chain is not a list or tuple (left as the app made it)."""
        try:
            if self._module is None or type(processors) not in (list, tuple) or not processors:
                return processors
            last = processors[-1]
            if isinstance(last, _Capture) or any(isinstance(step, _Capture) for step in processors):
                return processors
            chain = [*processors[:-1], _Capture(self, last)]
            return chain if type(processors) is list else tuple(chain)
        except Exception as error:
            error_once("attaching to a structlog logger's own processors", error)
            return processors

    def _rewrapping(self, original: Callable[..., Any]) -> Callable[..., Any]:
        bridge = self

        def configure(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            bridge.rewrap()
            return result

        configure.__wrapped__ = original  # type: ignore[attr-defined]
        configure.__doc__ = original.__doc__
        return configure

    def rewrap(self) -> None:
        """After the app's ``configure``: wrap the new last processor."""
        module = self._module
        if module is not None:
            try:
                self._wrap_renderer(module, self._originals["configure"])
            except Exception as error:
                error_once("attaching to structlog's new configuration", error)

    def _wrap_renderer(self, module: ModuleType, configure: Callable[..., Any]) -> None:
        processors = list(module.get_config()["processors"])
        if processors and not isinstance(processors[-1], _Capture):
            configure(processors=[*processors[:-1], _Capture(self, processors[-1])])

    def capture(self, logger: Any, method_name: str, event_dict: Mapping[str, Any]) -> None:
        """Queue one event: body, level, bound context, exception, and the current span's context."""
        try:
            if thread_state.exporting:
                return
            level = _level(method_name, event_dict)
            if level < self._threshold:
                return
            attributes = {key: value for key, value in event_dict.items() if key not in _NOT_ATTRIBUTES}
            for key, value in _contextvars().items():
                attributes.setdefault(key, value)
            exception = _exception(event_dict, method_name)
            if exception is None and isinstance(event_dict.get("exception"), str):
                attributes["exception.stacktrace"] = event_dict["exception"]
            context = get_current_span().get_span_context()
            name = getattr(logger, "name", None) or event_dict.get("logger") or "structlog"
            self._submit((
                time.time_ns(),
                severity_number(level),
                severity_text(_NAMES.get(level, "INFO")),
                event_dict.get("event", ""),
                str(name),
                None,
                None,
                0,
                attributes or None,
                exception,
                context.trace_id,
                context.span_id,
                int(context.trace_flags),
                None,
            ))
        except Exception as error:
            error_once("bridging a structlog event", error)


def _level(method_name: str, event_dict: Mapping[str, Any]) -> int:
    named = event_dict.get("level")
    if isinstance(named, str) and named.lower() in _LEVELS:
        return _LEVELS[named.lower()]
    return _LEVELS.get(method_name, 20)


def _contextvars() -> Mapping[str, Any]:
    """structlog's context-local bindings (``structlog.contextvars.bind_contextvars``), merged or not."""
    contextvars = sys.modules.get("structlog.contextvars")
    getter = getattr(contextvars, "get_contextvars", None)
    return getter() if callable(getter) else {}


def _exception(event_dict: Mapping[str, Any], method_name: str) -> Any:
    info = event_dict.get("exc_info")
    if info is None and method_name == "exception":
        info = True
    if info is True:
        info = sys.exc_info()
    elif isinstance(info, BaseException):
        info = (type(info), info, info.__traceback__)
    if isinstance(info, tuple) and len(info) == 3 and info[0] is not None:
        return exception_info(info[0], info[1], info[2])
    return None
