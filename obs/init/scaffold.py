"""Render, compare, report, then write: how ``obs init`` puts files on disk (the copier way).

Every file is rendered in memory first and compared with what is on disk:

    create      the file does not exist yet
    identical   the file already has exactly this content: nothing is written
    update      a generated file the user has not touched since obs wrote it (its SHA-256 matches the
                record in :mod:`obs.init.manifest`) is brought up to date; a file obs edits in place
                (pyproject.toml, requirements.txt) gains obs's additions
    conflict    a generated file the user changed: it is left alone
    overwrite   a conflict, replaced because of ``--force``

A dry run stops after the comparison. Writing is all or nothing as far as the file system allows: every
folder is checked first, every new file is staged next to its target, and only when all are staged are
they moved into place with :func:`os.replace` (atomic on POSIX), so an interrupt or a full disk never leaves
a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from obs.errors import ProjectError, WriteError
from obs.init.manifest import digest

__all__ = ["Action", "Planned", "Step", "apply", "plan", "plan_one"]

Action = Literal["create", "identical", "conflict", "overwrite", "update"]
WRITES: frozenset[Action] = frozenset({"create", "overwrite", "update"})


@dataclass(frozen=True)
class Planned:
    """One file obs wants on disk.

    ``edited`` files are the user's own that obs merged its additions into; ``previous`` is the SHA-256 of
    what obs last generated at this path, if it recorded one.
    """

    path: Path
    text: str
    edited: bool = False
    previous: str | None = None

    @property
    def content(self) -> bytes:
        return self.text.encode("utf-8")


@dataclass(frozen=True)
class Step:
    """A planned file and what will happen to it."""

    planned: Planned
    action: Action

    @property
    def writes(self) -> bool:
        return self.action in WRITES


def _current(path: Path) -> bytes | None:
    if path.is_dir():
        raise ProjectError(f"{path} is a folder where obs writes a file — move it away, or use --dir")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None
    except OSError as error:
        raise ProjectError(
            f"cannot read {path} ({error.strerror or error}) — check its permissions"
        ) from None


def plan_one(planned: Planned, *, force: bool) -> Step:
    """Compare one rendered file with the disk and decide its action; reads only."""
    current = _current(planned.path)
    action: Action
    if current is None:
        action = "create"
    elif current == planned.content:
        action = "identical"
    elif planned.edited or (planned.previous is not None and digest(current) == planned.previous):
        action = "update"
    else:
        action = "overwrite" if force else "conflict"
    return Step(planned, action)


def plan(files: Iterable[Planned], *, force: bool) -> list[Step]:
    """Compare each rendered file with the disk and decide its action; reads only."""
    return [plan_one(planned, force=force) for planned in files]


def _existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor)


def _preflight(steps: Sequence[Step]) -> None:
    """Refuse before the first write when a target folder cannot be created or written to."""
    for step in steps:
        folder = step.planned.path.parent
        ancestor = _existing_ancestor(folder)
        if not ancestor.is_dir():
            raise WriteError(
                f"cannot create {folder}: {ancestor} is a file — move it away, or choose another --dir"
            )
        target = step.planned.path
        if target.exists() and not os.access(target, os.W_OK):
            raise WriteError(f"{target} is read-only — make it writable, then run `obs init` again")
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise WriteError(
                f"cannot write in {ancestor} (permission denied) — fix its permissions, or choose "
                "another --dir"
            )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _stage(step: Step, made: list[Path], staged: list[tuple[Path, Path]], mode: int) -> None:
    target = step.planned.path
    if target.is_symlink():
        target = target.resolve()
    missing = [folder for folder in (target.parent, *target.parent.parents) if not folder.exists()]
    for folder in reversed(missing):
        folder.mkdir()
        made.append(folder)
    if target.exists():
        mode = target.stat().st_mode & 0o7777
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".obs-tmp")
    temporary = Path(name)
    staged.append((temporary, target))
    with os.fdopen(handle, "wb") as stream:
        stream.write(step.planned.content)
        stream.flush()
        os.fsync(stream.fileno())
    os.chmod(temporary, mode)


def _discard(staged: Sequence[tuple[Path, Path]], made: Sequence[Path]) -> None:
    for temporary, _ in staged:
        with contextlib.suppress(OSError):
            temporary.unlink()
    for folder in reversed(made):
        with contextlib.suppress(OSError):
            folder.rmdir()


def apply(steps: Sequence[Step]) -> list[Step]:
    """Write every step that writes and return them.

    A failure while staging (permissions, a full disk) or an interrupt removes what was staged and the
    folders made for it, so the project is as it was; an OSError becomes one WriteError line.
    """
    writing = [step for step in steps if step.writes]
    _preflight(writing)
    made: list[Path] = []
    staged: list[tuple[Path, Path]] = []
    mode = 0o666 & ~_umask()
    try:
        for step in writing:
            _stage(step, made, staged, mode)
    except OSError as error:
        _discard(staged, made)
        where = error.filename or "a target folder"
        raise WriteError(
            f"cannot write {where} ({error.strerror or error}); nothing was changed — fix it "
            "and run `obs init` again"
        ) from None
    except BaseException:
        _discard(staged, made)
        raise
    pending = list(staged)
    try:
        while pending:
            temporary, target = pending[0]
            os.replace(temporary, target)
            pending.pop(0)
    finally:
        _discard(pending, [])
    return writing
