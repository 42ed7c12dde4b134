"""Dashboard sources (Python text) in, dashboard JSON out: the one path both ``obs init`` and
``obs dashboards build`` take, so a freshly generated source rebuilds to exactly the shipped JSON.

A source defines ``dashboard(settings)`` returning a grafanalib ``Dashboard``, or None when it has nothing to
show for this project. Errors in a source come back as one :class:`DashboardSourceError` line that names the
file and line, never as a traceback.
"""

from __future__ import annotations

import json
import sys
import traceback
import types
from collections.abc import Mapping
from importlib import resources
from pathlib import PurePath

from grafanalib import core as G
from obs.agent.settings import Settings
from obs.dashboards._modernize import to_json
from obs.dashboards.lint import structure_problems
from obs.dashboards.sources import NAMES

__all__ = ["DashboardSourceError", "build", "build_source", "shipped_sources"]


class DashboardSourceError(ValueError):
    """A dashboard source cannot be built; the message names the file, the line and the problem."""


def _where(error: BaseException, filename: str) -> str:
    """``, line N`` of the deepest frame inside the source file, if any."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == filename]
    return f", line {frames[-1].lineno}" if frames else ""


def _fail(filename: str, error: BaseException) -> DashboardSourceError:
    if isinstance(error, SyntaxError) and error.filename == filename:
        return DashboardSourceError(f"{filename}, line {error.lineno}: invalid Python ({error.msg})")
    return DashboardSourceError(f"{filename}{_where(error, filename)}: {type(error).__name__}: {error}")


def build_source(text: str, filename: str, settings: Settings) -> str | None:
    """The JSON of the dashboard that the source ``text`` defines, or None if it returns None."""
    # A real module while it runs, so that what needs sys.modules (dataclasses, pickling) works in sources.
    module = types.ModuleType(f"obs_dashboard_{PurePath(filename).stem}")
    module.__file__ = filename
    sys.modules[module.__name__] = module
    try:
        exec(compile(text, filename, "exec"), module.__dict__)
        make = getattr(module, "dashboard", None)
        if not callable(make):
            raise DashboardSourceError(f"{filename}: defines no `dashboard(settings)` function; add one")
        built = make(settings)
    except DashboardSourceError:
        raise
    except Exception as error:
        raise _fail(filename, error) from None
    finally:
        sys.modules.pop(module.__name__, None)
    if built is None:
        return None
    if not isinstance(built, G.Dashboard):
        raise DashboardSourceError(
            f"{filename}: dashboard() returned {type(built).__name__}; "
            "return a grafanalib.core.Dashboard or None"
        )
    try:
        return to_json(built)
    except Exception as error:
        raise DashboardSourceError(f"{filename}: cannot turn the dashboard into JSON: {error}") from None


def build(sources: Mapping[str, str], settings: Settings) -> dict[str, str | None]:
    """Each source's JSON by dashboard name (the file's stem); None for a source that shows nothing.

    All sources are built before anything is returned, so a caller writes all or nothing. Two sources with the
    same uid, or a result that fails the structural lint, are errors naming the file.
    """
    built: dict[str, str | None] = {}
    owners: dict[str, str] = {}
    for filename in sorted(sources):
        text = build_source(sources[filename], filename, settings)
        built[PurePath(filename).stem] = text
        if text is None:
            continue
        document = json.loads(text)
        uid = document.get("uid", "")
        if uid in owners:
            raise DashboardSourceError(
                f"{filename}: dashboard uid `{uid}` is also {owners[uid]}'s; give each dashboard its own name"
            )
        owners[uid] = filename
        problems = structure_problems(document)
        if problems:
            raise DashboardSourceError(f"{filename}: {problems[0]}")
    return built


def shipped_sources() -> dict[str, str]:
    """The text of every dashboard source obs ships, by file name."""
    package = resources.files("obs.dashboards.sources")
    return {f"{name}.py": package.joinpath(f"{name}.py").read_text(encoding="utf-8") for name in NAMES}
