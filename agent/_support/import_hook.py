"""A post-import hook: run a callback right after a watched module has been executed.

Why: instrumenting at start-up means importing every instrumented library (and its instrumentor) whether the
app uses it or not; here an instrumentor loads when its library does, and a process that never imports it
pays nothing. The finder sits first on ``sys.meta_path``; for a watched name it asks the finders after it for
the real spec and wraps the loader, which puts the original loader back before the module's code runs (so
``__loader__`` and ``__spec__.loader`` are the real ones) and calls the callback after it ran. Unwatched
imports cost one set lookup. A callback's failure never breaks the import.

:func:`partially_imported` reads an import error for the modules that were still executing (a circular
import): code that runs inside an import hook can meet them, and must then run elsewhere.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable, Sequence

from obs.agent import _compat
from obs.agent._support.report import error_once

TYPE_CHECKING = False  # loaded on every start: typing, re and contextlib wait until something needs them
if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any

__all__ = ["ImportWatcher", "bind_to_parent", "initializing", "partially_imported", "when_executed"]

_PARTIAL = (
    r"partially initialized module '([\w.]+)'",
    r"cannot access submodule '(\w+)' of module '([\w.]+)'",
)
"""How an import error names a module still executing (regular expressions, compiled when one is met)."""


_executing: set[str] = set()
"""Watched modules whose code a watcher's loader is running now."""
_after: dict[str, list[Callable[[ModuleType], None]]] = {}
"""Callbacks waiting for one of them (:func:`when_executed`)."""


def when_executed(name: str, callback: Callable[[ModuleType], None]) -> bool:
    """Call ``callback(module)`` right after the code of ``name``, a watched module executing now, has run;
    False (and no call) if no watcher is running it.

    For code that runs while that module is still half-done further up the stack (the boot, inside the
    module's own ``import logging``) and needs all of it: the log bridges. The watcher's loader calls it, in
    the importing thread, after the watcher's own callback; not at all if the module's code fails.
    """
    if name not in _executing:
        return False
    _after.setdefault(name, []).append(callback)
    return True


def _run_waiting(name: str, module: ModuleType | None) -> None:
    _executing.discard(name)
    waiting = _after.pop(name, ())
    if module is None:
        return
    for callback in waiting:
        try:
            callback(module)
        except Exception as error:
            error_once(f"the post-import hook for {name}", error)


def initializing(name: str) -> bool:
    """True while module ``name`` is imported but its code has not finished running."""
    module = sys.modules.get(name)
    return module is not None and _compat.initializing(module)


def bind_to_parent(name: str, module: ModuleType) -> None:
    """Make ``package.sub`` reachable as an attribute of ``package`` now (the import system does it right
    after the submodule's code ran; code that runs in between may need it)."""
    parent, _, child = name.rpartition(".")
    package = sys.modules.get(parent) if parent else None
    if package is not None and getattr(package, child, None) is not module:
        setattr(package, child, module)


def partially_imported(error: BaseException) -> frozenset[str]:
    """The still-executing modules an ImportError/AttributeError (or its causes) ran into; empty if none."""
    import re

    names: set[str] = set()
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ImportError | AttributeError):
            text = str(seen)
            for pattern in _PARTIAL:
                for match in re.finditer(pattern, text):
                    groups = match.groups()
                    names.add(groups[0] if len(groups) == 1 else f"{groups[1]}.{groups[0]}")
        seen = seen.__cause__ or seen.__context__
    return frozenset(name for name in names if initializing(name))


class _NotifyingLoader:
    """Wraps a loader for one import; see the module docstring."""

    def __init__(self, loader: Any, spec: ModuleSpec, watcher: ImportWatcher) -> None:
        self._loader = loader
        self._spec = spec
        self._watcher = watcher

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        self._spec.loader = self._loader
        module.__loader__ = self._loader
        name = self._spec.name
        try:
            self._loader.exec_module(module)
        except BaseException:
            self._watcher.in_progress.discard(name)
            _run_waiting(name, None)
            raise
        try:
            self._watcher.on_loaded(name, module)
        except Exception as error:
            error_once(f"the post-import hook for {name}", error)
        finally:
            self._watcher.in_progress.discard(name)
        _run_waiting(name, module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class ImportWatcher:
    """A meta path finder that reports when watched modules finish executing."""

    def __init__(self, on_loaded: Callable[[str, ModuleType], None]) -> None:
        self.on_loaded = on_loaded
        self.in_progress: set[str] = set()
        """Watched modules being imported now: each will be reported when its code has run."""
        self._watched: frozenset[str] = frozenset()
        self._busy = threading.local()

    def watch(self, names: Iterable[str]) -> None:
        self._watched = self._watched | frozenset(names)

    def forget(self, name: str) -> None:
        self._watched = self._watched - {name}

    @property
    def watched(self) -> frozenset[str]:
        return self._watched

    def install(self) -> None:
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def uninstall(self) -> None:
        """Without contextlib: every armed process calls this at its exit, booted or not."""
        try:
            sys.meta_path.remove(self)
        except ValueError:  # another thread may have removed it meanwhile
            return

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in self._watched or getattr(self._busy, "active", False):
            return None
        self._busy.active = True
        try:
            spec = self._real_spec(fullname, path, target)
        except Exception:
            return None
        finally:
            self._busy.active = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _NotifyingLoader(spec.loader, spec, self)  # type: ignore[assignment]
        self.in_progress.add(fullname)
        _executing.add(fullname)
        return spec

    def _real_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None
    ) -> ModuleSpec | None:
        for finder in list(sys.meta_path):
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec: ModuleSpec | None = find(fullname, path, target)
            if spec is not None:
                return spec
        return None

    def invalidate_caches(self) -> None:
        return
