"""Readers for the dependencies a project declares: pyproject.toml (PEP 621, PEP 735, Poetry), Pipenv's
Pipfile, requirements files, setup.py (parsed with :mod:`ast`, never run) and setup.cfg.

Each reader returns :class:`Declared` records with the file and line, so the report can say why an
instrumentation was chosen. Development-only groups are kept but marked, so they can be named as left out.
"""

from __future__ import annotations

import ast
import configparser
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from obs.detect._evidence import Declared, Origin
from obs.detect._libraries import normalize

__all__ = [
    "PIPFILE_NOT_PACKAGES",
    "called_name",
    "from_pipfile",
    "from_pyproject",
    "from_requirements",
    "from_setup_cfg",
    "from_setup_py",
    "is_development",
    "requirement_name",
    "setup_cfg_name",
    "setup_py_name",
]

_NAME: Final = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")
_EGG: Final = re.compile(r"#egg=([A-Za-z0-9][A-Za-z0-9._-]*)")
_DEVELOPMENT: Final = re.compile(
    r"(^|[-_.])(dev|devel|develop|development|test|tests|testing|lint|linting|doc|docs|ci|typing|mypy|tox|"
    r"bench|benchmark|benchmarks|format|style)([-_.]|$)",
    re.IGNORECASE,
)
_MAX_INCLUDE_DEPTH: Final = 5


def is_development(group: str) -> bool:
    """True for dependency groups and requirement files meant for development: dev, test, docs..."""
    return bool(_DEVELOPMENT.search(group))


def requirement_name(text: str) -> str | None:
    """The normalised distribution name of a PEP 508 requirement or a requirements-file line."""
    egg = _EGG.search(text)
    if egg:
        return normalize(egg.group(1))
    match = _NAME.match(text)
    if match is None or text[match.end() :].startswith(":"):
        return None
    return normalize(match.group(1))


def _origin(group: str) -> Origin:
    return "development" if is_development(group) else "runtime"


class _Lines:
    """Finds the line a value sits on, after the header of its table when there is one."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def header(self, table: str) -> int:
        pattern = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(map(re.escape, table.split("."))) + r"\s*\]")
        return next((index for index, line in enumerate(self.lines) if pattern.match(line)), 0)

    def find(self, needle: str, start: int = 0) -> int:
        order: list[int] = [*range(start, len(self.lines)), *range(0, start)]
        for index in order:
            if needle in self.lines[index]:
                return index + 1
        return 0

    def key(self, key: str, start: int) -> int:
        pattern = re.compile(r"^\s*[\"']?" + re.escape(key) + r"[\"']?\s*=")
        for index in range(start, len(self.lines)):
            if pattern.match(self.lines[index]):
                return index + 1
        return 0


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, list):
        yield from (str(item) for item in value if isinstance(item, str))


def from_pyproject(text: str, document: Mapping[str, Any], path: str) -> list[Declared]:
    """Dependencies in pyproject.toml: [project], its extras, [dependency-groups] and Poetry's tables."""
    lines = _Lines(text)
    found: list[Declared] = []

    def add_list(items: Any, table: str, section: str, origin: Origin) -> None:
        start = lines.header(table)
        for item in _strings(items):
            name = requirement_name(item)
            if name:
                line = lines.find(f'"{item}"', start) or lines.find(f"'{item}'", start)
                found.append(Declared(name, item, path, line, section, origin))

    def add_table(items: Any, table: str, origin: Origin) -> None:
        if not isinstance(items, Mapping):
            return
        start = lines.header(table)
        for key, spec in items.items():
            if str(key).lower() == "python":
                continue
            text = f'{key} = "{spec}"' if isinstance(spec, str) else str(key)
            found.append(
                Declared(normalize(str(key)), text, path, lines.key(str(key), start), f"[{table}]", origin)
            )

    project = document.get("project")
    if isinstance(project, Mapping):
        add_list(project.get("dependencies"), "project", "[project] dependencies", "runtime")
        extras = project.get("optional-dependencies")
        if isinstance(extras, Mapping):
            for group, items in extras.items():
                add_list(
                    items,
                    "project.optional-dependencies",
                    f"[project.optional-dependencies] {group}",
                    _origin(str(group)),
                )
    groups = document.get("dependency-groups")
    if isinstance(groups, Mapping):
        for group, items in groups.items():
            add_list(items, "dependency-groups", f"[dependency-groups] {group}", "development")
    tool = document.get("tool")
    poetry = tool.get("poetry") if isinstance(tool, Mapping) else None
    if isinstance(poetry, Mapping):
        add_table(poetry.get("dependencies"), "tool.poetry.dependencies", "runtime")
        add_table(poetry.get("dev-dependencies"), "tool.poetry.dev-dependencies", "development")
        poetry_groups = poetry.get("group")
        if isinstance(poetry_groups, Mapping):
            for group, body in poetry_groups.items():
                if isinstance(body, Mapping):
                    add_table(
                        body.get("dependencies"),
                        f"tool.poetry.group.{group}.dependencies",
                        _origin(str(group)),
                    )
    return found


PIPFILE_NOT_PACKAGES: Final = frozenset({"source", "requires", "pipenv", "scripts"})
"""The Pipfile's tables that are not package categories."""


def from_pipfile(text: str, document: Mapping[str, Any], path: str) -> list[Declared]:
    """Pipenv's categories: ``[packages]`` (the app's), ``[dev-packages]`` (development only), and custom
    categories (``[docs]``, ``[worker]``...), development only when their name says so."""
    lines = _Lines(text)
    found: list[Declared] = []
    for category, packages in document.items():
        if category in PIPFILE_NOT_PACKAGES or not isinstance(packages, Mapping):
            continue
        origin: Origin = "runtime" if category == "packages" else (
            "development" if category == "dev-packages" else _origin(str(category)))
        start = lines.header(str(category))
        for key, spec in packages.items():
            shown = f'{key} = "{spec}"' if isinstance(spec, str) else str(key)
            found.append(Declared(normalize(str(key)), shown, path, lines.key(str(key), start),
                                  f"[{category}]", origin))
    return found


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines of a requirements file with ``\\`` continuations joined, numbered by their first line."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if raw.rstrip().endswith("\\"):
            pending.append(raw.rstrip()[:-1])
            continue
        pending.append(raw)
        yield start, " ".join(pending)
        pending = []
    if pending:
        yield start, " ".join(pending)


def _split_comment(line: str) -> tuple[str, str]:
    match = re.search(r"(^|\s)#", line)
    if match is None:
        return line.strip(), ""
    return line[: match.start()].strip(), line[match.end() :].strip()


def from_requirements(
    root: Path, path: Path, seen: set[Path] | None = None, depth: int = 0
) -> list[Declared]:
    """Requirements in a pip requirements file, following ``-r`` includes inside the project once each.

    A file is development-only by its own name (``requirements-dev.txt``, ``requirements/test.txt``), not
    by the file that includes it. Lines that pip-compile annotates as pulled in only by other packages
    (``# via flask``) are transitive, not the project's choice, and are left out.
    """
    seen = set() if seen is None else seen
    if path in seen:
        return []
    seen.add(path)
    relative = path.relative_to(root).as_posix()
    origin = _origin(path.name.removeprefix("requirements"))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    found: list[Declared] = []
    pending: Declared | None = None
    vias: list[str] = []

    def settle() -> None:
        if pending is not None and not (vias and not any(via.startswith("-r") for via in vias)):
            found.append(pending)

    for number, line in _logical_lines(text):
        body, comment = _split_comment(line)
        if not body:
            if comment.startswith("via"):
                vias.append(comment.removeprefix("via").strip())
            elif vias and comment and pending is not None:
                vias.append(comment)
            continue
        settle()
        pending, vias = None, []
        if comment.startswith("via"):
            vias.append(comment.removeprefix("via").strip())
        option, _, argument = body.partition(" ")
        if option in ("-r", "--requirement") and depth < _MAX_INCLUDE_DEPTH:
            included = (path.parent / argument.strip()).resolve()
            if included.is_file() and included.is_relative_to(root):
                found.extend(from_requirements(root, included, seen, depth + 1))
            continue
        if body.startswith("-") and not body.startswith(("-e", "--editable")):
            continue
        if body.startswith(("-e", "--editable")) and "#egg=" not in body:
            continue
        name = requirement_name(body.split(None, 1)[-1] if body.startswith("-") else body)
        if name and not body.startswith((".", "/")):
            pending = Declared(name, body, relative, number, "requirements", origin)
    settle()
    return found


def _literal_strings(node: ast.AST, assignments: Mapping[str, ast.AST]) -> Iterator[tuple[str, int]]:
    if isinstance(node, ast.Name) and node.id in assignments:
        yield from _literal_strings(assignments[node.id], {})
    elif isinstance(node, ast.List | ast.Tuple):
        for element in node.elts:
            if isinstance(element, ast.Constant) and isinstance(element.value, str):
                yield element.value, element.lineno
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        yield from _literal_strings(node.left, assignments)
        yield from _literal_strings(node.right, assignments)


def called_name(call: ast.Call) -> str:
    """The name a call uses: ``setup`` for ``setup(...)`` and ``setuptools.setup(...)`` alike."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else ""


def _setup_call(tree: ast.Module) -> ast.Call | None:
    return next(
        (node for node in ast.walk(tree) if isinstance(node, ast.Call) and called_name(node) == "setup"), None
    )


def _module_assignments(tree: ast.Module) -> dict[str, ast.AST]:
    assignments: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            assignments[node.targets[0].id] = node.value
    return assignments


def _resolve(node: ast.AST, assignments: Mapping[str, ast.AST]) -> ast.AST:
    """A name bound at module level stands for its value (``install_requires=REQUIRES``)."""
    return assignments.get(node.id, node) if isinstance(node, ast.Name) else node


def _parse_setup_py(path: Path) -> tuple[ast.Call, dict[str, ast.AST]] | None:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return None
    call = _setup_call(tree)
    return (call, _module_assignments(tree)) if call is not None else None


def from_setup_py(root: Path, path: Path) -> list[Declared]:
    """``install_requires`` and ``extras_require`` of the ``setup()`` call, read from the syntax tree.

    Literal lists (or names bound to them at module level) are read; anything computed is left to the
    requirements files it usually reads.
    """
    parsed = _parse_setup_py(path)
    if parsed is None:
        return []
    call, assignments = parsed
    relative = path.relative_to(root).as_posix()
    found: list[Declared] = []
    for keyword in call.keywords:
        if keyword.arg == "install_requires":
            for text, line in _literal_strings(keyword.value, assignments):
                name = requirement_name(text)
                if name:
                    found.append(Declared(name, text, relative, line, "install_requires"))
        elif keyword.arg == "extras_require":
            value = _resolve(keyword.value, assignments)
            if isinstance(value, ast.Dict):
                for key, items in zip(value.keys, value.values, strict=True):
                    group = key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else ""
                    for text, line in _literal_strings(items, assignments):
                        name = requirement_name(text)
                        if name:
                            found.append(
                                Declared(
                                    name, text, relative, line, f"extras_require {group}", _origin(group)
                                )
                            )
    return found


def setup_py_name(path: Path) -> str | None:
    """The literal ``name=`` of the ``setup()`` call, if there is one."""
    parsed = _parse_setup_py(path)
    if parsed is None:
        return None
    call, assignments = parsed
    for keyword in call.keywords:
        if keyword.arg == "name":
            value = _resolve(keyword.value, assignments)
            if isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value.strip():
                return value.value.strip()
    return None


def _read_setup_cfg(path: Path) -> tuple[configparser.ConfigParser, str] | None:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        text = path.read_text(encoding="utf-8")
        parser.read_string(text, source=str(path))
    except (OSError, UnicodeDecodeError, configparser.Error):
        return None
    return parser, text


def from_setup_cfg(root: Path, path: Path) -> list[Declared]:
    """``[options] install_requires`` and ``[options.extras_require]`` of setup.cfg."""
    read = _read_setup_cfg(path)
    if read is None:
        return []
    parser, text = read
    lines = _Lines(text)
    relative = path.relative_to(root).as_posix()
    found: list[Declared] = []

    def add(raw: str, section: str, label: str, origin: Origin) -> None:
        start = lines.header(section)
        for item in raw.splitlines():
            item = item.split("#", 1)[0].strip()
            name = requirement_name(item) if item else None
            if name:
                found.append(Declared(name, item, relative, lines.find(item, start), label, origin))

    if parser.has_option("options", "install_requires"):
        add(parser.get("options", "install_requires"), "options", "[options] install_requires", "runtime")
    if parser.has_section("options.extras_require"):
        for group, raw in parser.items("options.extras_require"):
            add(raw, "options.extras_require", f"[options.extras_require] {group}", _origin(group))
    return found


def setup_cfg_name(path: Path) -> str | None:
    """``[metadata] name`` of setup.cfg."""
    read = _read_setup_cfg(path)
    if read is None or not read[0].has_option("metadata", "name"):
        return None
    return read[0].get("metadata", "name").strip() or None
