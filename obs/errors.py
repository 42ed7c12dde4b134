"""Errors the ``obs`` command reports to the user as one line, never as a traceback.

    ObsError                 anything the user can fix; printed as ``obs: <Kind>: <message>``
    ├── UsageError           a wrong command line (exit 2)
    ├── ProjectError         the project's files cannot be read or are not a project
    ├── WriteError           a file could not be written (nothing was left half-written)
    ├── DockerError          Docker or docker compose is missing or failed
    └── CheckFailed          ``obs check`` found problems (they were printed already)

Settings problems arrive as :class:`obs.agent.settings.SettingsError` and are printed the same way.
"""

from __future__ import annotations

__all__ = ["CheckFailed", "DockerError", "ObsError", "ProjectError", "UsageError", "WriteError"]


class ObsError(Exception):
    """A problem the user can fix. ``exit_code`` is what the command returns."""

    exit_code = 1


class UsageError(ObsError):
    """The command line is wrong."""

    exit_code = 2


class ProjectError(ObsError):
    """The project's files cannot be read, or the folder is not a project."""


class WriteError(ObsError):
    """A file could not be written."""


class DockerError(ObsError):
    """Docker is missing, not running, or docker compose failed."""


class CheckFailed(ObsError):
    """Validation found problems; each was already printed on its own line."""
