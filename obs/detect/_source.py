"""The project's own source, read with :mod:`ast` (never imported): what it imports and where its app is.

Tests, docs, examples, virtual environments and the generated observability folder are skipped, so a test
that imports ``httpx`` does not turn on the httpx instrumentation. Imports that only serve type checking
(``if TYPE_CHECKING:``) and imports of the project's own modules are not evidence of a library either.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from obs.detect._declared import called_name
from obs.detect._evidence import Imported
from obs.detect._urls import Mentioned, urls_in

__all__ = ["AppObject", "SourceScan", "scan_source"]

SKIPPED_FOLDERS: Final = frozenset(
    {
        "__pycache__",
        "node_modules",
        "site-packages",
        "build",
        "dist",
        "tests",
        "test",
        "testing",
        "docs",
        "doc",
        "examples",
        "venv",
        "env",
        "htmlcov",
    }
)
SKIPPED_FILES: Final = frozenset({"conftest.py", "setup.py", "noxfile.py", "fabfile.py"})
MAX_FILES: Final = 5000
MAX_FILE_BYTES: Final = 1_000_000

_APP_CLASSES: Final = {
    "Flask": "flask",
    "FastAPI": "fastapi",
    "Starlette": "starlette",
    "Celery": "celery",
    "get_wsgi_application": "django",
    "get_asgi_application": "django",
}
_FACTORIES: Final = frozenset({"create_app", "make_app"})


@dataclass(frozen=True)
class AppObject:
    """Something the user starts: a Flask/FastAPI/Starlette/Celery app, a Django project, or a script
    (a module with an ``if __name__ == "__main__":`` block; its target is the module name)."""

    framework: str
    target: str
    """``module:attribute`` as servers take it, or ``manage.py`` for Django."""
    path: str
    line: int


@dataclass(frozen=True)
class SourceScan:
    """Everything read from the project's Python files."""

    imports: tuple[Imported, ...]
    apps: tuple[AppObject, ...]
    files: int
    unreadable: tuple[str, ...]
    truncated: bool
    urls: tuple[Mentioned, ...] = ()
    """Database and broker URLs written in string literals (settings modules, defaults)."""
    engines: tuple[Imported, ...] = ()
    """Django database engines (``"ENGINE": "django.db.backends.sqlite3"`` in a settings module), read
    without running the settings; ``module`` is the engine's dotted name."""


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


class _Collector(ast.NodeVisitor):
    """Collects absolute imports (outside ``if TYPE_CHECKING:``) and module-level app objects."""

    def __init__(self, path: str, module: str) -> None:
        self.path = path
        self.module = module
        self.imports: list[Imported] = []
        self.apps: list[AppObject] = []
        self.urls: list[Mentioned] = []
        self.engines: list[Imported] = []
        self._assigned = ""

    def visit_Assign(self, node: ast.Assign) -> None:
        target = node.targets[0] if node.targets else None
        self._assigned = target.id if isinstance(target, ast.Name) else ""
        self.generic_visit(node)
        self._assigned = ""

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._assigned = node.target.id if isinstance(node.target, ast.Name) else ""
        self.generic_visit(node)
        self._assigned = ""

    def visit_Call(self, node: ast.Call) -> None:
        """``os.environ.get("CELERY_BROKER_URL", "redis://...")``: the variable names the default."""
        first = node.args[0] if node.args else None
        if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value.isupper():
            outer, self._assigned = self._assigned, first.value
            self.generic_visit(node)
            self._assigned = outer
            return
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and "://" in node.value:
            self.urls.extend(urls_in(node.value, self.path, node.lineno, self._assigned))

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            if (isinstance(key, ast.Constant) and key.value == "ENGINE" and isinstance(value, ast.Constant)
                    and isinstance(value.value, str) and value.value.startswith("django.")):
                self.engines.append(Imported(value.value, self.path, value.lineno))
        self.generic_visit(node)

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.imports.extend(Imported(alias.name, self.path, node.lineno) for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return
        self.imports.append(Imported(node.module, self.path, node.lineno))
        self.imports.extend(
            Imported(f"{node.module}.{alias.name}", self.path, node.lineno)
            for alias in node.names
            if alias.name != "*"
        )

    def _imports(self, top: str) -> bool:
        return bool(self.module) and any(item.module.split(".")[0] == top for item in self.imports)

    def app_objects(self, tree: ast.Module) -> None:
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                name = called_name(node.value)
                target = node.targets[0]
                if name in _APP_CLASSES and isinstance(target, ast.Name) and self.module:
                    self.apps.append(
                        AppObject(_APP_CLASSES[name], f"{self.module}:{target.id}", self.path, node.lineno)
                    )
            elif isinstance(node, ast.If) and _is_main_guard(node.test) and self.module:
                self.apps.append(AppObject("script", self.module, self.path, node.lineno))
            elif isinstance(node, ast.FunctionDef) and node.name in _FACTORIES and self._imports("flask"):
                self.apps.append(AppObject("flask", f"{self.module}:{node.name}()", self.path, node.lineno))


def module_name(relative: Path) -> str:
    """The dotted module a file defines (``src/shop/__init__.py`` -> ``shop``), for app targets."""
    parts = list(relative.with_suffix("").parts)
    if parts and parts[0] == "src":
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) if all(part.isidentifier() for part in parts) else ""


def _python_files(root: Path, excluded: frozenset[Path]) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(
            name
            for name in dirs
            if not name.startswith(".")
            and name not in SKIPPED_FOLDERS
            and (here / name).resolve() not in excluded
            and not (here / name / "pyvenv.cfg").exists()
        )
        for name in sorted(files):
            if (
                name.endswith(".py")
                and name not in SKIPPED_FILES
                and not (name.startswith("test_") or name.endswith("_test.py"))
            ):
                yield here / name


def local_modules(root: Path) -> frozenset[str]:
    """Top-level module names the project defines itself (in its root or ``src/``)."""
    names: set[str] = set()
    for base in (root, root / "src"):
        if not base.is_dir():
            continue
        for entry in base.iterdir():
            if entry.suffix == ".py":
                names.add(entry.stem)
            elif entry.is_dir() and (entry / "__init__.py").is_file():
                names.add(entry.name)
    return frozenset(names)


def scan_source(root: Path, excluded: frozenset[Path] = frozenset()) -> SourceScan:
    """Read every Python file of the project once; files that do not parse are named, not fatal."""
    own = local_modules(root)
    imports: list[Imported] = []
    apps: list[AppObject] = []
    urls: list[Mentioned] = []
    engines: list[Imported] = []
    unreadable: list[str] = []
    count = 0
    truncated = False
    for path in _python_files(root, frozenset(path.resolve() for path in excluded)):
        if count >= MAX_FILES:
            truncated = True
            break
        count += 1
        relative = path.relative_to(root)
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                continue
            tree = ast.parse(path.read_bytes(), filename=str(relative))
        except (OSError, SyntaxError, ValueError):
            unreadable.append(relative.as_posix())
            continue
        collector = _Collector(relative.as_posix(), module_name(relative))
        collector.visit(tree)
        collector.app_objects(tree)
        imports.extend(item for item in collector.imports if item.module.split(".")[0] not in own)
        apps.extend(collector.apps)
        urls.extend(collector.urls)
        engines.extend(collector.engines)
    if (root / "manage.py").is_file():
        apps.append(AppObject("django", "manage.py", "manage.py", 1))
    return SourceScan(tuple(imports), tuple(apps), count, tuple(unreadable), truncated, tuple(urls),
                      tuple(engines))
