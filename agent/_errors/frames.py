"""Where an exception was raised, in the app's own terms: the innermost frame in the project's code.

"The project's code" is decided by the file's path: anything under a ``site-packages`` or ``dist-packages``
folder, the standard library, obs itself, or a file with no path (``<frozen ...>``, ``<string>``) is a
library; everything else is the app's. A failure raised deep inside a library call is therefore grouped
under the app's function that made the call. An exception with no frame of the app's at all keeps its
innermost frame.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from types import FrameType, TracebackType
from typing import Final

__all__ = ["Where", "is_project_file", "where_from_text", "where_from_traceback"]

Where = tuple[str, str, int]
"""``(function, file path, line)``: ``function`` is ``module.qualified_name``."""

_LIBRARY_FOLDERS: Final = (f"{os.sep}site-packages{os.sep}", f"{os.sep}dist-packages{os.sep}")
_KEPT: Final = 4096
_verdicts: dict[str, bool] = {}


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths.get("stdlib", ""), paths.get("platstdlib", "")}
    import obs.agent

    import obs

    for package in (obs, obs.agent):
        roots.add(os.path.dirname(package.__file__ or ""))
    return tuple(os.path.join(os.path.realpath(root), "") for root in roots if root)


_roots: tuple[str, ...] | None = None


def is_project_file(path: str) -> bool:
    """Whether ``path`` is the app's own code (see the module's docstring); each path is decided once."""
    verdict = _verdicts.get(path)
    if verdict is not None:
        return verdict
    global _roots
    if _roots is None:
        _roots = _library_roots()
    if not path or path.startswith("<"):
        verdict = False
    else:
        real = os.path.realpath(path)
        verdict = not any(folder in real for folder in _LIBRARY_FOLDERS) and not real.startswith(_roots)
    if len(_verdicts) < _KEPT:
        _verdicts[path] = verdict
    return verdict


def _function(frame: FrameType) -> str:
    code = frame.f_code
    module = frame.f_globals.get("__name__") or "?"
    return f"{module}.{getattr(code, 'co_qualname', code.co_name)}"


def where_from_traceback(trace: TracebackType | None) -> Where | None:
    """The innermost frame of the app's code in ``trace`` (else the innermost frame), or None."""
    found: tuple[FrameType, int] | None = None
    innermost: tuple[FrameType, int] | None = None
    while trace is not None:
        frame = trace.tb_frame
        innermost = (frame, trace.tb_lineno)
        if is_project_file(frame.f_code.co_filename):
            found = innermost
        trace = trace.tb_next
    chosen = found or innermost
    if chosen is None:
        return None
    frame, line = chosen
    return _function(frame), frame.f_code.co_filename, line


_FRAME_LINE: Final = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<name>\S+)', re.M)


def _module_of(path: str) -> str:
    """The loaded module whose file is ``path`` (a traceback's text names files, not modules)."""
    for name, module in list(sys.modules.items()):
        if getattr(module, "__file__", None) == path:
            return name
    return os.path.splitext(os.path.basename(path))[0]


def where_from_text(stacktrace: str) -> Where | None:
    """The same choice from a formatted traceback (an ``exception.stacktrace`` attribute): the function is
    ``module.name`` (a text traceback names functions, not their classes)."""
    frames = [(m["path"], int(m["line"]), m["name"]) for m in _FRAME_LINE.finditer(stacktrace)]
    if not frames:
        return None
    chosen = next((frame for frame in reversed(frames) if is_project_file(frame[0])), frames[-1])
    path, line, name = chosen
    return f"{_module_of(path)}.{name}", path, line
