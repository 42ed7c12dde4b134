"""Where a project's generated ``observability/`` folder is, for the commands that read it."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from obs.agent.settings import load_settings
from obs.errors import ProjectError

__all__ = ["FOLDER", "observability_dir"]

FOLDER: Final = "observability"


def observability_dir(given: str | None) -> Path:
    """The folder named on the command line (or its ``observability/`` child), else the project's own one."""
    if given is None:
        folder = load_settings().project_root / FOLDER
    else:
        folder = Path(given)
        if (folder / FOLDER).is_dir() and not (folder / "compose.yaml").exists():
            folder = folder / FOLDER
    if not folder.is_dir():
        raise ProjectError(
            f"{folder} is not a folder — run `obs init` to generate it, or name the folder to use"
        )
    return folder
