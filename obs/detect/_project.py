"""Which files make a folder a Python project, read once and checked before anything else happens."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from obs.detect._declared import setup_cfg_name, setup_py_name
from obs.errors import ProjectError

__all__ = ["Project", "open_project", "parse_toml", "read_text"]


def parse_toml(path: Path, text: str) -> tomlkit.TOMLDocument:
    """Parse with tomlkit (which keeps comments and layout); a broken file is one ProjectError line."""
    try:
        return tomlkit.parse(text)
    except TOMLKitError as error:
        raise ProjectError(
            f"{path} is not valid TOML ({error}) — fix it, then run `obs init` again"
        ) from None


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ProjectError(
            f"{path} is not UTF-8 text — save it as UTF-8, then run `obs init` again"
        ) from None
    except OSError as error:
        raise ProjectError(
            f"cannot read {path} ({error.strerror or error}) — check its permissions"
        ) from None


@dataclass(frozen=True)
class Project:
    """The files of a Python project that obs reads (and may edit), with their text as read."""

    root: Path
    pyproject_text: str | None
    obs_toml_text: str | None
    setup_py: bool
    setup_cfg: bool
    requirements: tuple[Path, ...]
    """Requirement files at the top (``requirements*.txt``) and in ``requirements/``."""
    name: str | None
    pipfile_text: str | None = None
    """Pipenv's ``Pipfile`` (TOML), already known to be valid."""

    @property
    def pyproject(self) -> Path:
        return self.root / "pyproject.toml"

    @property
    def obs_toml(self) -> Path:
        return self.root / "obs.toml"

    @property
    def requirements_txt(self) -> Path | None:
        path = self.root / "requirements.txt"
        return path if path in self.requirements else None

    @property
    def pipfile(self) -> Path:
        return self.root / "Pipfile"

    def pipfile_document(self) -> tomlkit.TOMLDocument | None:
        """A fresh, editable parse of the Pipfile (already known to be valid)."""
        if self.pipfile_text is None:
            return None
        return parse_toml(self.pipfile, self.pipfile_text)

    def pyproject_document(self) -> tomlkit.TOMLDocument | None:
        """A fresh, editable parse of pyproject.toml (already known to be valid)."""
        if self.pyproject_text is None:
            return None
        return parse_toml(self.pyproject, self.pyproject_text)

    def markers(self) -> list[str]:
        """The project files found, for the report."""
        found = ["pyproject.toml"] if self.pyproject_text is not None else []
        found += ["Pipfile"] if self.pipfile_text is not None else []
        found += ["setup.py"] * self.setup_py + ["setup.cfg"] * self.setup_cfg
        found += [path.relative_to(self.root).as_posix() for path in self.requirements]
        return found


def _requirement_files(root: Path) -> tuple[Path, ...]:
    files = sorted(root.glob("requirements*.txt")) + sorted((root / "requirements").glob("*.txt"))
    return tuple(path for path in files if path.is_file())


def _table(document: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    node: Any = document
    for key in keys:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}


def _name(document: Mapping[str, Any] | None, root: Path, setup_py: bool, setup_cfg: bool) -> str | None:
    if document is not None:
        for table in (_table(document, "project"), _table(document, "tool", "poetry")):
            name = table.get("name")
            if isinstance(name, str) and name.strip():
                return name.strip()
    if setup_cfg and (name := setup_cfg_name(root / "setup.cfg")):
        return name
    if setup_py:
        return setup_py_name(root / "setup.py")
    return None


def _is_project(folder: Path) -> bool:
    markers = ("pyproject.toml", "Pipfile", "setup.py", "setup.cfg", "requirements.txt")
    return any((folder / marker).is_file() for marker in markers)


def _project_above(folder: Path) -> Path | None:
    """The nearest enclosing project folder, up to the repository root, for the error message."""
    for parent in folder.parents:
        if _is_project(parent):
            return parent
        if (parent / ".git").exists():
            return None
    return None


def open_project(path: Path) -> Project:
    """Read the project in ``path``, or raise one ProjectError saying what is wrong and what to do."""
    root = path.expanduser()
    if not root.exists():
        raise ProjectError(f"{root} does not exist — name your project's folder, or run `obs init` inside it")
    if not root.is_dir():
        raise ProjectError(
            f"{root} is not a folder — name your project's folder, or run `obs init` inside it"
        )
    root = root.resolve()
    pyproject = root / "pyproject.toml"
    pyproject_text = read_text(pyproject) if pyproject.is_file() else None
    document = parse_toml(pyproject, pyproject_text) if pyproject_text is not None else None
    obs_toml = root / "obs.toml"
    obs_toml_text = read_text(obs_toml) if obs_toml.is_file() else None
    if obs_toml_text is not None:
        parse_toml(obs_toml, obs_toml_text)
    pipfile = root / "Pipfile"
    pipfile_text = read_text(pipfile) if pipfile.is_file() else None
    if pipfile_text is not None:
        parse_toml(pipfile, pipfile_text)
    setup_py = (root / "setup.py").is_file()
    setup_cfg = (root / "setup.cfg").is_file()
    requirements = _requirement_files(root)
    if document is None and pipfile_text is None and not (setup_py or setup_cfg or requirements):
        above = _project_above(root)
        where = f"run `obs init {above}`" if above else "run `obs init` in your project's folder"
        raise ProjectError(
            f"{root} is not a Python project (no pyproject.toml, Pipfile, setup.py, setup.cfg or "
            f"requirements.txt) — {where}"
        )
    return Project(
        root,
        pyproject_text,
        obs_toml_text,
        setup_py,
        setup_cfg,
        requirements,
        _name(document, root, setup_py, setup_cfg),
        pipfile_text,
    )
