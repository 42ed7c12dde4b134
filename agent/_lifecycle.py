"""Starting and stopping the agent, once per process, without ever breaking the app.

Phases: ``off`` -> ``armed`` -> ``booting`` -> ``running`` -> ``stopped`` (or ``failed``/``disabled``).
Arming costs a few milliseconds: find the installed instrumentations and watch for the modules that matter
(:mod:`obs.agent._support.import_hook`). Booting reads and checks the settings (a bad one: one line for the
whole run, and the agent stays off), loads the SDK and builds the pipelines.

``obs.init()`` arms and boots at once. ``obs run`` arms only (``lazy=True``): the SDK loads when the app first
imports a module worth observing (``logging``, ``loguru``, or an instrumented library), so a process that
never does pays a few milliseconds instead of the SDK's import time. The boot runs in the importing thread,
right after that module executed.

A boot inside an import can meet a module that is still executing further up the stack (the OpenTelemetry
API imports logging; uvicorn imports asyncio, which imports concurrent.futures, which imports logging: the
SDK cannot import those yet). Such a boot is undone (nothing was built: imports come first) and done again
when the module is done, if it is one the watcher reports (the API is); otherwise on a thread of its own,
where an import of a half-done module simply waits until the app's thread has finished it. An instrumented
library imported meanwhile waits for that boot (at most :data:`BOOT_WAIT_S`), so that its instrumentation is
in place before the app uses it; anything else goes on. A fork waits for a boot in progress.

Exit: one ``atexit`` handler, registered when the agent is armed (so it runs after the app's own handlers,
atexit running last-registered first), flushes and stops everything within :data:`EXIT_BUDGET_S` in all,
shared by the processes of one run (a pre-fork server's master and workers spend one budget, not one each).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Mapping

from obs.agent._compat import LOGS_API_MODULE
from obs.agent._support.report import error_once

TYPE_CHECKING = False  # typing (and the re it loads) stays unloaded in a process that never boots the agent
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

    from obs.agent._config.check import AgentConfig
    from obs.agent._instrument import Candidate
    from obs.agent._pipeline import Outputs, Pipeline
    from obs.agent._support.import_hook import ImportWatcher
    from obs.agent.settings import Settings

__all__ = ["EXIT_BUDGET_S", "flush", "phase", "problem", "start", "stop"]

EXIT_BUDGET_S = 1.0
"""The most the agent adds to the app's exit: flush and stop of all signals together."""
BOOT_WAIT_S = 5.0
"""How long an instrumented library's import waits for a boot running on its own thread."""

SEMCONV_VARIABLE = "OTEL_SEMCONV_STABILITY_OPT_IN"
_BOOT_THREAD = "obs-boot"
LOG_MODULES = ("logging", "loguru", "structlog")
"""Modules whose import boots the agent, as the log bridge must be in place before the first record (loguru
and structlog import logging, and so boot while they are half-done: the watcher then tells their bridges
when they are done, :func:`obs.agent._support.import_hook.when_executed`)."""
API_MODULES = ("opentelemetry.trace", "opentelemetry.metrics", LOGS_API_MODULE)
"""The API: an app that imports it wants the providers set when the import returns."""
BOOT_MODULES = LOG_MODULES + API_MODULES
GEVENT = "gevent"
"""Watched, not booting: the agent follows its patching (obs.agent._support.greenlets)."""
MAX_DEFERRALS = 8


class _State:
    def __init__(self) -> None:
        self.phase = "off"
        self.overrides: dict[str, Any] = {}
        self.outputs: Outputs | None = None
        self.watcher: ImportWatcher | None = None
        self.installed: dict[str, Candidate] = {}
        self.by_trigger: dict[str, list[Candidate]] = {}
        self.pipeline: Pipeline | None = None
        self.pending: list[str] = []
        self.waiting_for: frozenset[str] = frozenset()
        """Watched modules still executing that a boot met: it is retried when they are done."""
        self.deferrals = 0
        self.booted: threading.Event | None = None
        """Set when a boot on its own thread is over (None: no such boot)."""
        self.problem = ""
        self.lock = threading.RLock()
        self.boot_guard = threading.Lock()
        """Held by a boot on its own thread; a fork waits for it."""
        self.held_for_fork = False


_state = _State()


def phase() -> str:
    """``off``, ``armed``, ``booting``, ``running``, ``stopped``, ``failed`` or ``disabled``."""
    return _state.phase


def problem() -> str:
    """Why the agent is not running, in one line (empty when nothing went wrong)."""
    state = _state
    if state.problem:
        return state.problem
    return {"disabled": "it is disabled (OTEL_SDK_DISABLED or `disabled` in the settings)",
            "stopped": "it was stopped (obs.shutdown())"}.get(state.phase, "")


def start(overrides: Mapping[str, Any], *, lazy: bool = False, outputs: Outputs | None = None) -> bool:
    """Arm the agent (and boot it unless ``lazy``). True when it is armed or running. Never raises."""
    state = _state
    try:
        with state.lock:
            if state.phase == "armed" and not lazy:
                state.overrides.update(overrides)
                state.outputs = outputs or state.outputs
            elif state.phase == "off" and not _arm(overrides, outputs):
                return False
            if state.phase == "armed" and (not lazy or _something_to_observe()):
                _boot()
        if not lazy:
            _wait_for_background_boot()
        return state.phase in ("armed", "booting", "running")
    except Exception as error:
        error_once("starting the agent", error)
        state.phase = "failed"
        return False


def _disabled_by_environment(overrides: Mapping[str, Any]) -> bool:
    """``OTEL_SDK_DISABLED=true`` (or ``disabled=True``) is honoured before anything loads."""
    if overrides.get("disabled") is not None:
        return overrides.get("disabled") is True
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() in ("true", "1", "yes", "on")


def _arm(overrides: Mapping[str, Any], outputs: Outputs | None) -> bool:
    """Watch the imports that matter. Settings wait for the boot: reading them costs more than all of this."""
    from obs.agent._instrument import discover
    from obs.agent._support.announce import ensure_run_id
    from obs.agent._support.fork import BOOT, at_fork
    from obs.agent._support.greenlets import watch_gevent
    from obs.agent._support.import_hook import ImportWatcher

    state = _state
    if _disabled_by_environment(overrides):
        state.phase = "disabled"
        return False
    ensure_run_id()
    state.overrides, state.outputs = dict(overrides), outputs
    state.installed = discover()
    watcher = ImportWatcher(_on_imported)
    watcher.watch({candidate.trigger for candidate in state.installed.values()} | set(BOOT_MODULES))
    watch_gevent()
    if GEVENT not in sys.modules:
        watcher.watch({GEVENT})
    watcher.install()
    state.watcher = watcher
    at_fork(BOOT, before=_before_fork, after_in_parent=_after_fork_in_parent,
            after_in_child=_after_fork_in_child)
    atexit.register(_at_exit)
    state.phase = "armed"
    return True


def _configure() -> tuple[Settings, AgentConfig] | None:
    """Read and check the settings at boot; a bad one is one line for the whole run, and the agent is off."""
    from obs.agent._config.check import check
    from obs.agent._instrument import select
    from obs.agent.settings import SettingsError, load_settings

    state = _state
    try:
        settings = load_settings(state.overrides)
        config = check(settings, os.environ)
    except SettingsError as error:
        _bad_settings(error)
        return None
    state.by_trigger = {}
    for candidate in select(settings, state.installed):
        state.by_trigger.setdefault(candidate.trigger, []).append(candidate)
    return settings, config


def _bad_settings(error: Exception) -> None:
    """One line for the whole run: which setting, where from, what to do; the app runs without the agent."""
    from obs.agent._support.announce import announce

    _state.problem = str(error)
    announce("settings", f"{error}; the agent is off and the app runs without it")


def opt_in_stable_semconv() -> None:
    """Make the instrumentations emit the stable HTTP and database conventions (the catalog's names).

    Set at boot: instrumentations only load after it, and they read the variable when they load.
    """
    from obs.agent.catalog import SEMCONV_OPT_IN

    current = [part.strip() for part in os.environ.get(SEMCONV_VARIABLE, "").split(",") if part.strip()]
    for wanted in SEMCONV_OPT_IN.split(","):
        if not any(part == wanted or part.startswith(f"{wanted}/") for part in current):
            current.append(wanted)
    os.environ[SEMCONV_VARIABLE] = ",".join(current)


def _ready(name: str) -> bool:
    """Imported and done executing (a module still executing will call the watcher when it is done)."""
    from obs.agent._support.import_hook import initializing

    return name in sys.modules and not initializing(name)


def _something_to_observe() -> bool:
    watcher = _state.watcher
    return watcher is not None and any(_ready(name) for name in watcher.watched if name != GEVENT)


def _boot() -> None:
    """Boot in this thread, or on a thread of its own if modules are half-imported here (lock held).

    The garbage collector is paused meanwhile: what the boot makes (modules, classes, the SDK's registries)
    lives as long as the process and is frozen at the end (:func:`_freeze_the_heap_so_far`), and the 40 or
    so collections its imports would set off cost time for very little: the few cycles the imports
    leave behind (a few hundred objects) are frozen with the rest
    instead. An app that turned the collector off keeps it off. A boot on its own thread does not pause it
    (the app runs meanwhile).
    """
    import gc

    from obs.agent._support.import_hook import partially_imported

    state = _state
    if state.phase != "armed":
        return
    state.phase = "booting"  # first: the imports below must not boot again when they import logging
    collecting = gc.isenabled()
    gc.disable()
    try:
        try:
            pipeline = _build()
        except Exception as error:
            culprits = partially_imported(error)
            reported = state.watcher.in_progress if state.watcher is not None else set()
            if culprits and culprits <= reported and state.deferrals < MAX_DEFERRALS:
                state.deferrals += 1
                state.waiting_for = culprits
                state.phase = "armed"
            elif culprits:
                _boot_in_background()
            else:
                _failed(error)
            return
        if pipeline is not None:
            _running(pipeline)
            _drain()
    finally:
        if collecting:
            gc.enable()


def _build() -> Pipeline | None:
    """The installed pipeline; None (after one line for the run) when the settings are bad or say off."""
    from obs.agent._pipeline import Outputs, Pipeline

    state = _state
    opt_in_stable_semconv()
    configured = _configure()
    if configured is None:
        _disarm("failed")
        return None
    settings, config = configured
    if settings.disabled:
        _disarm("disabled")
        return None
    outputs = state.outputs or Outputs.from_config(settings, config)
    pipeline = Pipeline.build(settings, config, outputs)
    pipeline.install()
    return pipeline


def _running(pipeline: Pipeline) -> None:
    """Instrument the libraries imported so far. Names waiting in ``pending`` are their importers' to do:
    a boot thread that imported an instrumentor for a module still held by its importing thread would wait
    for that thread, which waits for the boot."""
    from obs.agent._instrument import activate

    state = _state
    state.pipeline = pipeline
    state.phase = "running"
    for name, candidates in state.by_trigger.items():
        if _ready(name):
            for candidate in candidates:
                activate(candidate)
    _freeze_the_heap_so_far()


def _freeze_the_heap_so_far() -> None:
    """Move every object alive now (the SDK, protobuf, the agent, the modules imported before it) out of the
    garbage collector's reach: they live as long as the process, and without this each full collection
    scans them again (the FastAPI example under load: full collections took about twice as long without
    this as the plain app's, and showed in its p99; with it, as long). Objects made later, the app's
    included, are collected as before."""
    import gc

    gc.freeze()


def _failed(error: BaseException) -> None:
    _state.problem = f"starting the agent failed ({type(error).__name__}: {error})"
    error_once("starting the agent", error)
    _disarm("failed")


def _boot_in_background() -> None:
    """The boot on a thread of its own; where the exiting interpreter refuses the thread, no boot at all (an
    import at exit cannot finish it here either: see _boot)."""
    from obs.agent._support.threads import start as start_thread

    state = _state
    booted = state.booted = threading.Event()
    if not start_thread(threading.Thread(target=_background_boot, args=(booted,), name=_BOOT_THREAD,
                                         daemon=True)):
        state.problem = "the process was exiting when the agent would have started"
        _disarm("failed")
        booted.set()


def _background_boot(booted: threading.Event) -> None:
    state = _state
    try:
        with state.boot_guard:
            try:
                pipeline = _build()
            except Exception as error:
                with state.lock:
                    _failed(error)
                return
            with state.lock:
                if pipeline is not None and state.phase == "booting":
                    _running(pipeline)
                    return
            if pipeline is not None:  # stopped meanwhile (obs.shutdown() or exit)
                pipeline.shutdown(0.0)
    finally:
        booted.set()


def _wait_for_background_boot() -> None:
    """Wait for a boot on its own thread; never on that thread itself (its own imports come here too)."""
    booted = _state.booted
    if booted is not None and _state.phase == "booting" and threading.current_thread().name != _BOOT_THREAD:
        booted.wait(BOOT_WAIT_S)


def _disarm(final_phase: str) -> None:
    state = _state
    state.phase = final_phase
    if state.watcher is not None:
        state.watcher.uninstall()


def _on_imported(name: str, module: ModuleType) -> None:
    """The watcher's callback, in the importing thread, right after ``name`` executed."""
    from obs.agent._support.import_hook import bind_to_parent

    state = _state
    if name == GEVENT:
        from obs.agent._support.greenlets import watch_gevent

        watch_gevent()
        if state.watcher is not None:
            state.watcher.forget(name)
        return
    state.pending.append(name)
    if name in state.waiting_for:
        bind_to_parent(name, module)
        state.waiting_for = state.waiting_for - {name}
    if state.phase == "armed" and not state.waiting_for and state.lock.acquire(blocking=False):
        try:
            _boot()
        finally:
            state.lock.release()
    if state.phase == "booting" and name not in LOG_MODULES:
        _wait_for_background_boot()
    if state.phase == "running":
        _drain()


def _drain() -> None:
    from obs.agent._instrument import activate

    state = _state
    while state.pending:
        try:
            name = state.pending.pop()
        except IndexError:
            return
        for candidate in state.by_trigger.get(name, ()):
            activate(candidate)
        if state.watcher is not None and name in state.watcher.watched:
            state.watcher.forget(name)


def _before_fork() -> None:
    """A boot on its own thread finishes before the fork (a child must not inherit half of it)."""
    state = _state
    if state.booted is not None and state.phase == "booting":
        state.held_for_fork = state.boot_guard.acquire(timeout=BOOT_WAIT_S)


def _after_fork_in_parent() -> None:
    state = _state
    if state.held_for_fork:
        state.held_for_fork = False
        state.boot_guard.release()


def _after_fork_in_child() -> None:
    state = _state
    state.lock = threading.RLock()
    state.boot_guard = threading.Lock()
    state.held_for_fork = False
    if state.phase == "booting" and state.booted is not None:
        _failed(RuntimeError("the process forked while the agent was starting"))


def flush(timeout_s: float = EXIT_BUDGET_S, *, metrics: bool = True) -> None:
    """Export what was recorded so far (within ``timeout_s``); the agent keeps running."""
    pipeline = _state.pipeline
    if pipeline is not None and _state.phase == "running":
        try:
            pipeline.flush(timeout_s, metrics=metrics)
        except Exception as error:
            error_once("flushing telemetry", error)


def stop(budget_s: float = EXIT_BUDGET_S) -> None:
    """Flush and stop within ``budget_s``. Idempotent; a stopped agent does not start again."""
    state = _state
    with state.lock:
        pipeline, state.pipeline = state.pipeline, None
        if state.phase in ("armed", "booting", "running"):
            _disarm("stopped")
    if pipeline is not None:
        try:
            pipeline.shutdown(budget_s)
        except Exception as error:
            error_once("stopping the agent", error)


def _at_exit() -> None:
    """Stop within the run's exit budget: shared by all processes of a pre-fork server
    (obs.agent._support.exit_deadline), so a master exiting after its workers does not add its own."""
    budget = EXIT_BUDGET_S
    if _state.pipeline is not None:
        from obs.agent._support.exit_deadline import exit_budget
        from obs.agent.bootstrap import RUN_ID_VARIABLE

        budget = exit_budget(EXIT_BUDGET_S, os.environ.get(RUN_ID_VARIABLE))
    stop(budget)
