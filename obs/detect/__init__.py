"""What a project uses, read from the project itself, and the instrumentations that follow from it.

Evidence is what the project declares (pyproject.toml, Poetry, Pipfile, requirements files, setup.py,
setup.cfg), what its source imports, and the database and broker URLs its settings and ``.env`` files name
(the driver in ``postgresql+psycopg://``), never what happens to be installed. Each finding keeps the file
and line it came from, so ``obs init`` can say why it chose an instrumentation.

    open_project(path) -> Project           the project's files, validated
    detect(project, excluded) -> Detection  findings, chosen instrumentations, app objects
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from obs.detect._declared import (
    from_pipfile,
    from_pyproject,
    from_requirements,
    from_setup_cfg,
    from_setup_py,
)
from obs.detect._evidence import Declared, Imported
from obs.detect._libraries import (
    INSTRUMENTATION_PACKAGES,
    LIBRARIES,
    Library,
    by_distribution,
    by_module,
    normalize,
)
from obs.detect._project import Project, open_project, parse_toml
from obs.detect._source import AppObject, SourceScan, scan_source
from obs.detect._urls import Mentioned, library_of, scan_env_files

__all__ = [
    "INSTRUMENTATION_PACKAGES",
    "LIBRARIES",
    "AppObject",
    "Declared",
    "Detection",
    "Finding",
    "Imported",
    "Library",
    "Mentioned",
    "Project",
    "declared_dependencies",
    "detect",
    "normalize",
    "open_project",
    "parse_toml",
]

Status = Literal["instrumented", "covered", "nothing to instrument", "development only"]


@dataclass(frozen=True)
class Finding:
    """One library the project uses, the evidence for it, and what obs does about it."""

    library: Library
    declared: tuple[Declared, ...]
    imported: tuple[Imported, ...]
    status: Status
    reason: str = ""
    mentioned: tuple[Mentioned, ...] = ()
    """URLs naming this library's driver or broker, in settings modules or ``.env`` files."""


@dataclass(frozen=True)
class Detection:
    """The outcome of reading a project."""

    findings: tuple[Finding, ...]
    apps: tuple[AppObject, ...]
    source: SourceScan

    @property
    def instrumentations(self) -> tuple[str, ...]:
        """Entry point names to turn on, sorted."""
        chosen = {
            name
            for finding in self.findings
            if finding.status == "instrumented"
            for name in finding.library.instrumentations
        }
        return tuple(sorted(chosen))

    def uses(self, key: str) -> bool:
        """True when the project uses library ``key`` at run time (servers included)."""
        return any(f.library.key == key and f.status != "development only" for f in self.findings)


def declared_dependencies(project: Project) -> list[Declared]:
    """Every dependency the project's files declare, runtime and development alike."""
    found: list[Declared] = []
    if project.pyproject_text is not None:
        document = project.pyproject_document()
        if document is not None:
            found += from_pyproject(project.pyproject_text, document, "pyproject.toml")
    pipfile = project.pipfile_document()
    if pipfile is not None and project.pipfile_text is not None:
        found += from_pipfile(project.pipfile_text, pipfile, "Pipfile")
    if project.setup_py:
        found += from_setup_py(project.root, project.root / "setup.py")
    if project.setup_cfg:
        found += from_setup_cfg(project.root, project.root / "setup.cfg")
    seen: set[Path] = set()
    for path in project.requirements:
        if path.resolve().is_relative_to(project.root):
            found += from_requirements(project.root, path.resolve(), seen)
    return found


def _unique_lines(items: list[Imported]) -> tuple[Imported, ...]:
    seen: set[tuple[str, int]] = set()
    unique = []
    for item in items:
        if (item.path, item.line) not in seen:
            seen.add((item.path, item.line))
            unique.append(item)
    return tuple(unique)


_ENGINES: dict[str, tuple[str, ...]] = {
    "sqlite3": ("sqlite3",),
    "spatialite": ("sqlite3",),
    "postgresql": ("psycopg", "psycopg2"),
    "postgresql_psycopg2": ("psycopg2",),
    "postgis": ("psycopg", "psycopg2"),
    "mysql": ("mysqlclient",),
}
"""The end of a Django ``ENGINE`` -> the drivers (library keys) Django may use for it, preferred first."""


def _engine_driver(engine: str, declared: dict[str, list[Declared]]) -> str | None:
    """The driver (library key) a Django database engine runs on: the one the project declares, else the one
    installed here, else Django's preferred one."""
    drivers = _ENGINES.get(engine.rsplit(".", 1)[-1])
    if not drivers:
        return None
    if len(drivers) == 1:
        return drivers[0]
    for driver in drivers:
        if declared.get(driver):
            return driver
    import importlib.util

    for driver in drivers:
        if importlib.util.find_spec(driver) is not None:
            return driver
    return drivers[0]


def detect(project: Project, excluded: frozenset[Path] = frozenset()) -> Detection:
    """Map the project's declared dependencies and imports to instrumentations.

    A library counts when a runtime dependency names it or the source imports it; one that only appears in
    development groups is reported but not instrumented. A library whose work another chosen
    instrumentation already traces (a driver under SQLAlchemy, Starlette under FastAPI) is left out so spans
    are not doubled, unless the source uses it directly.
    """
    declared: dict[str, list[Declared]] = defaultdict(list)
    for dependency in declared_dependencies(project):
        library = by_distribution(dependency.name)
        if library is not None:
            declared[library.key].append(dependency)
    source = scan_source(project.root, excluded)
    for engine in source.engines:
        driver = _engine_driver(engine.module, declared)
        if driver is not None:
            declared[driver].append(
                Declared(driver, f"ENGINE {engine.module}", engine.path, engine.line, "Django DATABASES")
            )
    imported: dict[str, list[Imported]] = defaultdict(list)
    for statement in source.imports:
        for library in by_module(statement.module):
            imported[library.key].append(statement)
    mentioned = _mentions([*source.urls, *scan_env_files(project.root)], declared, imported)

    def runtime(key: str) -> bool:
        return bool(imported[key]) or any(item.origin == "runtime" for item in declared[key]) or any(
            not item.broker for item in mentioned[key]
        )

    used = [library for library in LIBRARIES if declared[library.key] or imported[library.key]
            or (mentioned[library.key] and runtime(library.key))]
    candidates = {name for library in used if runtime(library.key) for name in library.instrumentations}
    findings = []
    for library in used:
        key = library.key
        covering = [name for name in library.covered_by if name in candidates]
        if covering == ["django"] and "sqlalchemy" in candidates:
            covering = []  # SQLAlchemy's queries are traced at this driver (see _libraries)
        status: Status
        if not runtime(key):
            status, reason = "development only", f"only in {declared[key][0].section}"
        elif not library.instrumentations:
            status, reason = "nothing to instrument", library.note
        elif covering and (library.covered_even_if_imported or not imported[key]):
            status, reason = "covered", f"its calls are traced by the {covering[0]} instrumentation"
            if library.kind == "ORM":
                reason = (f"its queries are traced at the driver, by the {covering[0]} instrumentation "
                          "(one span per query, engines made at import time included)")
            if covering[0] == "django":
                reason = "Django's ORM queries on it are traced by the django instrumentation"
        else:
            status, reason = "instrumented", ""
        findings.append(Finding(library, tuple(declared[key]), _unique_lines(imported[key]), status, reason,
                                tuple(mentioned[key])))
    return Detection(tuple(findings), source.apps, source)


_POSTGRES_DRIVERS = ("psycopg", "psycopg2", "asyncpg")


def _mentions(
    urls: list[Mentioned], declared: dict[str, list[Declared]], imported: dict[str, list[Imported]]
) -> dict[str, list[Mentioned]]:
    """Library key -> the URLs that name it. A PostgreSQL URL without a driver goes to the PostgreSQL driver
    the project declares or imports, else to psycopg2 (SQLAlchemy's default); a broker URL is Celery's
    evidence (the worker's own polling of a Redis broker is not worth a span each)."""
    found: dict[str, list[Mentioned]] = defaultdict(list)
    for url in urls:
        key = library_of(url)
        if url.broker:
            key = "celery"
        elif key == "postgresql":
            key = next((name for name in _POSTGRES_DRIVERS if declared[name] or imported[name]), "psycopg2")
        if key:
            found[key].append(url)
    return found
