"""Finding the external programs obs can use when they are there: promtool, amtool and docker.

An environment variable names a binary explicitly (``OBS_PROMTOOL``, ``OBS_AMTOOL``, ``OBS_DOCKER``), for
people whose copy is not on ``PATH``; otherwise ``PATH`` decides. None means "not available": callers say
what they skipped.
"""

from __future__ import annotations

import os
import shutil
from typing import Final

__all__ = ["TOOL_ENV", "find_tool"]

TOOL_ENV: Final = {"promtool": "OBS_PROMTOOL", "amtool": "OBS_AMTOOL", "docker": "OBS_DOCKER"}
"""Program name -> the variable that overrides where it is."""


def find_tool(name: str) -> str | None:
    """Path of the program ``name``: the override variable if set, else the first match on PATH."""
    override = os.environ.get(TOOL_ENV.get(name, ""), "").strip()
    if override:
        return override if os.path.isfile(override) and os.access(override, os.X_OK) else None
    return shutil.which(name)
