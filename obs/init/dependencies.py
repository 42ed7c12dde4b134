"""Add the pinned instrumentation packages where the project declares its dependencies.

In order of preference: ``[project] dependencies`` of pyproject.toml (unless declared dynamic), Poetry's
``[tool.poetry.dependencies]``, Pipenv's ``[packages]`` in the Pipfile, then ``requirements.txt``. setup.py
is never edited: for setup.py projects the exact ``pip install`` command is printed instead. The next step
names the project's own tool: ``uv sync``, ``poetry lock && poetry install``, ``pdm install``, Hatch (which
syncs its environment as it starts), ``pipenv install``, or pip. A package the project already declares with
another version is the user's choice and stays (a conflict; ``--force`` replaces it). Comments and layout
stay.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, MutableMapping, MutableSequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import tomlkit

from obs.detect import Project, normalize
from obs.detect._declared import requirement_name
from obs.detect._project import read_text
from obs.init.pins import Pin

__all__ = ["DependencyConflict", "DepsEdit", "edit_dependencies", "pip_command"]

Target = Literal[
    "[project] dependencies", "[tool.poetry.dependencies]", "Pipfile [packages]", "requirements.txt", "none"
]

_REQUIREMENTS_HEADER: Final = "# Observability, added by `obs init` (one OpenTelemetry release set)"
_MAX_INLINE: Final = 88


@dataclass(frozen=True)
class DependencyConflict:
    """A package the project declares with another version than obs pins; the project's stays."""

    name: str
    current: str
    proposed: str


@dataclass(frozen=True)
class DepsEdit:
    """Where the packages go, the edited file text, and what the edit did."""

    target: Target
    path: Path | None
    text: str | None
    added: tuple[str, ...]
    replaced: tuple[str, ...]
    conflicts: tuple[DependencyConflict, ...]
    install: str | None
    """What the user runs afterwards to install them."""
    recorded: dict[str, str]
    """The pins obs stands behind now, for the manifest (a kept conflict keeps its old record)."""


def pip_command(pins: tuple[Pin, ...]) -> str:
    """The exact ``pip install`` command for ``pins``."""
    return shlex.join(["pip", "install", *(pin.requirement for pin in pins)])


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


def _target(project: Project, document: Mapping[str, Any] | None) -> Target:
    table = document.get("project") if document is not None else None
    if isinstance(table, Mapping) and "dependencies" not in (table.get("dynamic") or []):
        return "[project] dependencies"
    tool = document.get("tool") if document is not None else None
    poetry = tool.get("poetry") if isinstance(tool, Mapping) else None
    if isinstance(poetry, Mapping) and isinstance(poetry.get("dependencies"), Mapping):
        return "[tool.poetry.dependencies]"
    if project.pipfile_text is not None:
        return "Pipfile [packages]"
    if project.requirements_txt is not None:
        return "requirements.txt"
    return "none"


def _uses_tool(project: Project, document: Mapping[str, Any] | None, tool: str, *files: str) -> bool:
    """``[tool.<tool>]`` in pyproject.toml, or one of the tool's own files at the project's root."""
    tables = document.get("tool") if document is not None else None
    in_pyproject = isinstance(tables, Mapping) and tool in tables
    return in_pyproject or any((project.root / name).is_file() for name in files)


def _install_hint(project: Project, document: Mapping[str, Any] | None, target: Target) -> str:
    if target == "requirements.txt":
        return "pip install -r requirements.txt"
    if target == "Pipfile [packages]":
        return "pipenv install"
    if target == "[tool.poetry.dependencies]" or (project.root / "poetry.lock").is_file():
        return "poetry lock && poetry install"
    if (project.root / "uv.lock").is_file():
        return "uv sync"
    if _uses_tool(project, document, "pdm", "pdm.lock"):
        return "pdm install"  # it updates pdm.lock from the changed pyproject.toml, then installs
    if _uses_tool(project, document, "hatch", "hatch.toml"):
        return "hatch shell  (Hatch installs them into its environment as it starts)"
    return "pip install -e ."


def _equivalent(current: str, written: str) -> bool:
    return _squash(current).lstrip("=") == _squash(written).lstrip("=")


@dataclass
class _Outcome:
    """Decides, package by package, whether to write obs's pin, and keeps the tally."""

    force: bool
    previous: Mapping[str, str]
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    conflicts: list[DependencyConflict] = field(default_factory=list)
    recorded: dict[str, str] = field(default_factory=dict)

    def decide(self, name: str, current: str | None, written: str, shown: str, label: str = "{}") -> bool:
        """True when ``written`` should go in: absent, forced, or still what obs wrote last time."""
        self.recorded[name] = written
        if current is None:
            self.added.append(shown)
            return True
        if _equivalent(current, written):
            return False
        if self.force or (name in self.previous and _equivalent(current, self.previous[name])):
            self.replaced.append(shown)
            return True
        self.conflicts.append(DependencyConflict(name, label.format(current), shown))
        if name in self.previous:
            self.recorded[name] = self.previous[name]
        else:
            del self.recorded[name]
        return False


def _edit_list(items: MutableSequence[Any], pins: tuple[Pin, ...], outcome: _Outcome) -> None:
    for pin in pins:
        index = next(
            (
                i
                for i, item in enumerate(items)
                if isinstance(item, str) and requirement_name(item) == pin.name
            ),
            None,
        )
        current = None if index is None else str(items[index])
        if outcome.decide(pin.name, current, pin.requirement, pin.requirement):
            if index is None:
                items.append(pin.requirement)
            else:
                items[index] = pin.requirement


def _poetry_version(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("version"), str):
        return str(value["version"])
    return str(value)


def _edit_table(table: MutableMapping[str, Any], pins: tuple[Pin, ...], outcome: _Outcome) -> None:
    """A table of ``name = "version spec"`` (or ``{version = ...}``): Poetry's dependencies, a Pipfile's
    ``[packages]``; obs's pins are written ``name = "==X"``, which both read as exact."""
    keys = {normalize(str(key)): str(key) for key in table}
    for pin in pins:
        if pin.reference:
            continue  # a direct reference is a table in Poetry ({git = ..., rev = ...}): left to the user
        wanted = f"=={pin.version}"
        key = keys.get(pin.name, pin.name)
        current = _poetry_version(table[key]) if key in table else None
        if outcome.decide(pin.name, current, wanted, f'{key} = "{wanted}"', f'{key} = "{{}}"'):
            table[key] = wanted


def _comment_free(line: str) -> str:
    return re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()


def _edit_requirements(text: str, pins: tuple[Pin, ...], outcome: _Outcome) -> str:
    lines = text.splitlines(keepends=True)
    appended = []
    for pin in pins:
        index = next(
            (
                i
                for i, line in enumerate(lines)
                if (body := _comment_free(line))
                and not body.startswith("-")
                and requirement_name(body) == pin.name
            ),
            None,
        )
        current = None if index is None else _comment_free(lines[index])
        if outcome.decide(pin.name, current, pin.requirement, pin.requirement):
            if index is None or current is None:
                appended.append(pin.requirement)
            else:
                lines[index] = lines[index].replace(current, pin.requirement, 1)
    new = "".join(lines)
    if appended:
        if new and not new.endswith("\n"):
            new += "\n"
        block = "\n".join([_REQUIREMENTS_HEADER, *appended]) + "\n"
        new += ("\n" if new.strip() else "") + block
    return new


def _fold_long_array(array: Any) -> None:
    """One requirement per line when the edited array no longer fits on its line."""
    text = array.as_string() if isinstance(array, tomlkit.items.Array) else ""
    if "\n" not in text and len(text) > _MAX_INLINE:
        array.multiline(True)


def edit_dependencies(
    project: Project, pins: tuple[Pin, ...], *, force: bool, previous: Mapping[str, str] | None = None
) -> DepsEdit:
    """Plan the dependency edit in memory; nothing is written here.

    ``previous`` holds the pins obs wrote last time (from the manifest): a package still declared that way
    is updated to the new pin; one declared otherwise is the user's and stays unless ``force``.
    """
    document = project.pyproject_document()
    target = _target(project, document)
    outcome = _Outcome(force, previous or {})
    if target == "none":
        return DepsEdit(target, None, None, (), (), (), None, {})
    if target == "requirements.txt":
        path = project.root / "requirements.txt"
        text = _edit_requirements(read_text(path), pins, outcome)
    elif target == "Pipfile [packages]":
        path = project.pipfile
        pipfile = project.pipfile_document()
        assert pipfile is not None
        if not isinstance(pipfile.get("packages"), Mapping):
            pipfile["packages"] = tomlkit.table()
        _edit_table(pipfile["packages"], pins, outcome)
        text = tomlkit.dumps(pipfile)
    else:
        assert document is not None
        path = project.pyproject
        if target == "[project] dependencies":
            table = document["project"]
            if "dependencies" not in table:
                table["dependencies"] = tomlkit.array()
            _edit_list(table["dependencies"], pins, outcome)
            _fold_long_array(table["dependencies"])
        else:
            _edit_table(document["tool"]["poetry"]["dependencies"], pins, outcome)
        text = tomlkit.dumps(document)
    return DepsEdit(
        target,
        path,
        text,
        tuple(outcome.added),
        tuple(outcome.replaced),
        tuple(outcome.conflicts),
        _install_hint(project, document, target),
        outcome.recorded,
    )
