"""The agent's house: its rooms, and every module named by a string still being where the string says.

Modules are also named in strings the type checker cannot follow: the fork reset list, the late imports of the
export thread, ``OWN_MIDDLEWARE``'s ``module:function`` targets, the benchmarks' import lines, and the
docstrings that send a reader to another module. After a move, such a string would fail only when it is used
(in a forked worker, at the first export to a file...); here they are all resolved at once.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AGENT = ROOT / "agent"
NAMED = re.compile(r"obs\.agent(?:\.\w+)+(?::\w+)?")
TELEMETRY_NAMES = frozenset({"obs.agent.http_server", "obs.agent.logs", "obs.agent.django.db"})
"""Names that look like modules but are instrumentation scopes and a logger name, seen in telemetry."""
PATH = re.compile(r"(?<![\w/])agent/[\w/]+\.py")


def _strings(folders: tuple[str, ...]) -> dict[str, set[str]]:
    """Every ``obs.agent...`` name found in a string constant (docstrings included) -> the files naming it."""
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "fixtures" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    for name in NAMED.findall(node.value):
                        found.setdefault(name.rstrip("."), set()).add(str(path.relative_to(ROOT)))
    return found


def _resolve(named: str) -> object:
    """Import the longest module prefix of ``named`` (``a.b.c`` or ``a.b:c``), then get the rest from it."""
    dotted = named.replace(":", ".")
    parts = dotted.split(".")
    for cut in range(len(parts), 1, -1):
        module_name = ".".join(parts[:cut])
        try:
            found: object = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name is not None and module_name.startswith(error.name):
                continue
            raise
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return found
    raise ModuleNotFoundError(named)


NAMES = _strings(("agent", "obs", "bench", "tests"))


@pytest.mark.parametrize("named", sorted(set(NAMES) - TELEMETRY_NAMES))
def test_every_module_named_in_a_string_imports(named: str) -> None:
    """Each ``obs.agent...`` name in a string of the agent, obs, the benchmarks or the tests resolves: the
    module imports, and the function, class or constant after it exists."""
    assert _resolve(named) is not None, f"{named} (named in {sorted(NAMES[named])})"


def test_telemetry_names_are_not_modules() -> None:
    """The scope and logger names that look like module paths are not modules (a module of that name would
    make a reader think the telemetry comes from it)."""
    for name in TELEMETRY_NAMES:
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(name)


def test_every_agent_path_in_the_docs_exists() -> None:
    """Paths like ``agent/_export/sinks.py`` in the documentation and the code point at files that exist."""
    sources = [*ROOT.glob("docs/*.md"), ROOT / "README.md", *AGENT.rglob("*.py"),
               *(ROOT / "bench").rglob("*.py")]
    missing = {
        f"{path.relative_to(ROOT)}: {named}"
        for path in sources
        for named in PATH.findall(path.read_text(encoding="utf-8"))
        if not (ROOT / named).exists()
    }
    assert not missing


def test_the_agent_has_rooms() -> None:
    """At most 10 modules at the top of ``agent/``; the rest live in sub-packages named for their jobs."""
    top = sorted(path.name for path in AGENT.glob("*.py"))
    rooms = sorted(path.parent.name for path in AGENT.glob("*/__init__.py"))
    assert len(top) <= 10, top
    expected = {"_config", "_otlp", "_export", "_traces", "_metrics", "_logs", "_server", "_support"}
    assert expected <= set(rooms), rooms


UPSTREAM = ("opentelemetry", "loguru")
OWN_PRIVATE = frozenset({"hook._on_import", "bridge._chain", "bridge._agent_level", "other._key"})
"""Private attributes the agent reads on its own objects (a closure's bridge, a peer record)."""
UPSTREAM_PRIVATE_PATH = re.compile(r"\b(?:opentelemetry|loguru)(?:\.\w+)*\._[A-Za-z]")


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_upstream_uses(path: Path) -> list[str]:
    """Where ``path`` imports, names or reaches for a private name of another library."""
    uses: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(UPSTREAM):
            if any(_private(part) for part in (node.module or "").split(".")) or any(
                _private(alias.name) for alias in node.names
            ):
                uses.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Import):
            uses += [f"line {node.lineno}: import {alias.name}" for alias in node.names
                     if alias.name.startswith(UPSTREAM) and any(map(_private, alias.name.split(".")))]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (
            "getattr", "setattr", "hasattr", "delattr"
        ):
            name = node.args[1] if len(node.args) > 1 else None
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and _private(name.value):
                uses.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")) and \
                    ast.unparse(node) not in OWN_PRIVATE:
                uses.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                UPSTREAM_PRIVATE_PATH.search(node.value):
            uses.append(f"line {getattr(node, 'lineno', 0)}: {node.value[:60]!r}")
    return uses


def test_private_upstream_names_live_in_the_compat_module_only() -> None:
    """Private names of OpenTelemetry, loguru or CPython (imports of ``_`` modules or names, ``getattr`` of a
    ``_`` attribute, ``x._name`` on an object not the agent's own) appear in obs.agent._compat only, where
    tests/test_agent_compat.py guards each of them."""
    found = {
        str(path.relative_to(ROOT)): uses
        for path in sorted(AGENT.rglob("*.py"))
        if (uses := _private_upstream_uses(path))
    }
    assert set(found) == {"agent/_compat.py"}, {name: uses for name, uses in found.items()
                                                if name != "agent/_compat.py"}
