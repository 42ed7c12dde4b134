"""Auto-instrumentation through the ``opentelemetry_instrumentor`` entry points, one library at a time.

Discovery reads the ``entry_points.txt`` of the distributions on ``sys.path`` directly (a small part of what
``importlib.metadata.entry_points()`` costs, which parses every distribution's metadata). Each entry point
gets a trigger module (usually its own name): the instrumentor is loaded when the app imports that module, or
at once if it was imported already. Before loading, the instrumentor's declared dependencies are checked with
the contrib's own dependency-conflict check, so a library outside the supported versions is left alone (and
said so, once).

Which ones: ``settings.instrumentations`` when given, else every installed one except those obs covers itself
(``logging``: obs's log bridge; ``system_metrics``: obs's process metrics); minus the disabled ones.
"""

from __future__ import annotations

import os
import sys
import threading

from obs.agent._support.report import error_once, say_once

DBAPI_DRIVERS = frozenset({"psycopg", "psycopg2", "pymysql", "mysqlclient", "mysql", "sqlite3", "aiopg",
                           "pymssql"})
"""Instrumentations built on contrib's DB-API layer (obs.agent._integrations.database completes their
conventions)."""

TYPE_CHECKING = False  # loaded at every start: typing (and the re it loads) waits for a process that needs it
if TYPE_CHECKING:
    from typing import Final

    from obs.agent.settings import Settings

__all__ = ["KWARGS", "OWN_MIDDLEWARE", "Candidate", "activate", "discover", "instrument_kwargs", "select",
           "use_own_middleware"]

GROUP: Final = "opentelemetry_instrumentor"

TRIGGERS: Final = {
    "aio-pika": "aio_pika",
    "aiohttp-client": "aiohttp",
    "aiohttp-server": "aiohttp",
    "boto3sqs": "boto3",
    "confluent-kafka": "confluent_kafka",
    "grpc_aio_client": "grpc",
    "grpc_aio_server": "grpc",
    "grpc_client": "grpc",
    "grpc_server": "grpc",
    "mysqlclient": "MySQLdb",
    "openai-v2": "openai",
    "tortoiseorm": "tortoise",
    "urllib": "urllib.request",
}
"""Entry point name -> the module whose import turns it on, where they differ."""

KWARGS: Final[dict[str, dict[str, object]]] = {
    "fastapi": {"exclude_spans": ["send", "receive"]},
    "starlette": {"exclude_spans": ["send", "receive"]},
}
"""Entry point name -> keyword arguments for ``instrument()``, passed only where the installed instrumentor's
``instrument_app`` takes them. ASGI ``send``/``receive`` spans: two extra spans per request that no
dashboard reads; the server span keeps status, route and duration."""

OWN_MIDDLEWARE: Final = {
    "django": "obs.agent._server.django:instrument",
    "flask": "obs.agent._server.flask:instrument",
    "fastapi": "obs.agent._server.starlette:instrument_fastapi",
    "starlette": "obs.agent._server.starlette:instrument",
}
"""Entry point name -> obs's own server middleware (``module:function``), used in place of the
contrib instrumentor unless ``server_middleware = "contrib"``: several times cheaper a request
(docs/benchmarks.md)."""

CONTRIB_WHEN_READY: Final = {
    "django": "obs.agent._server.django:instrument_contrib",
}
"""Entry point name -> what switches the contrib instrumentor on when obs's middleware is not used, where
switching it on at the library's import would break the app (Django: the settings are not known yet)."""

ORM_DRIVERS: Final = frozenset({"sqlite3", "psycopg", "psycopg2", "mysqlclient", "pymysql"})
"""Driver instrumentations that Django's ORM would go through: obs's django instrumentation records each ORM
query itself (obs.agent._traces.django_db), and the contrib dbapi wrapper would add about 1 ms to every new
connection (Django opens one per request by default)."""

OBS_COVERS: Final = frozenset({"logging", "system_metrics"})
"""Instrumentations left off unless named explicitly: obs does their job itself."""

DRIVER_LAYER: Final = {"sqlalchemy": ("psycopg", "psycopg2", "asyncpg", "pymysql", "mysqlclient", "sqlite3")}
"""ORM instrumentation -> the driver instrumentations that serve it instead (one span per query, engines made
before the agent loaded included: see obs.agent._integrations.database). The ORM's own is used only when none
of its drivers' instrumentations is installed."""


class Candidate:
    """One installed instrumentation: entry point name, ``module:attribute``, its dist-info folder.

    A plain class, not a dataclass: this module loads on every start, and ``dataclasses`` imports
    ``inspect``, more than a process that never boots the agent should pay.
    """

    __slots__ = ("dist_path", "name", "target")

    def __init__(self, name: str, target: str, dist_path: str) -> None:
        self.name = name
        self.target = target
        self.dist_path = dist_path

    def __repr__(self) -> str:
        return f"Candidate({self.name!r}, {self.target!r})"

    @property
    def trigger(self) -> str:
        return TRIGGERS.get(self.name, self.name.replace("-", "_"))


def _parse_group(text: str) -> list[tuple[str, str]]:
    """``(name, value)`` pairs of the instrumentor section of an ``entry_points.txt``."""
    pairs: list[tuple[str, str]] = []
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            inside = line == f"[{GROUP}]"
            continue
        if inside:
            name, sep, value = line.partition("=")
            if sep and name.strip() and value.strip():
                pairs.append((name.strip(), value.strip()))
    return pairs


def discover(paths: list[str] | None = None) -> dict[str, Candidate]:
    """Every instrumentor entry point on ``paths`` (default ``sys.path``, whose scan is kept between
    processes until one of its folders changes: obs.agent._support.kept); the first one of a name
    wins."""
    if paths is not None:
        return _scan(paths)
    from obs.agent._support.kept import scan_once

    folders = [os.path.abspath(folder or os.curdir) for folder in sys.path]
    rows = scan_once("instrumentors", folders,
                     lambda: [(c.name, c.target, c.dist_path) for c in _scan(folders).values()])
    return {name: Candidate(name, target, dist_path) for name, target, dist_path in rows}


def _scan(paths: list[str]) -> dict[str, Candidate]:
    found: dict[str, Candidate] = {}
    for folder in paths:
        try:
            entries = os.scandir(folder or ".")
        except OSError:
            continue
        with entries:
            for entry in sorted(entries, key=lambda item: item.name):
                if not entry.name.endswith((".dist-info", ".egg-info")):
                    continue
                try:
                    with open(os.path.join(entry.path, "entry_points.txt"), encoding="utf-8") as handle:
                        text = handle.read()
                except OSError:
                    continue
                if f"[{GROUP}]" not in text:
                    continue
                for name, target in _parse_group(text):
                    found.setdefault(name, Candidate(name, target, entry.path))
    return found


def select(settings: Settings, installed: dict[str, Candidate]) -> list[Candidate]:
    """The candidates to arm (see the module docstring); names asked for but not installed are said once."""
    disabled = set(settings.disabled_instrumentations)
    if settings.instrumentations:
        missing = [name for name in settings.instrumentations if name not in set(installed) | disabled]
        if missing:
            origin = settings.sources.get("instrumentations", "settings")
            say_once("instrumentations-missing",
                     f"instrumentations from {origin} are not installed: {', '.join(missing)} "
                     f"(pip install {' '.join('opentelemetry-instrumentation-' + name for name in missing)})")
        names = [name for name in settings.instrumentations if name in installed]
    else:
        names = sorted(name for name in installed if name not in OBS_COVERS)
    names = _driver_layer(names, installed)
    _chosen_explicitly[0] = bool(settings.instrumentations)
    return [installed[name] for name in names if name not in disabled]


def _driver_layer(names: list[str], installed: dict[str, Candidate]) -> list[str]:
    """``names`` with each ORM of :data:`DRIVER_LAYER` replaced by its installed drivers' instrumentations."""
    result: list[str] = []
    for name in names:
        drivers = [driver for driver in DRIVER_LAYER.get(name, ()) if driver in installed]
        for chosen in drivers or [name]:
            if chosen not in result:
                result.append(chosen)
    return result


_chosen_explicitly = [False]


def _driver_of_django(candidate: Candidate) -> bool:
    """A database driver first imported by Django's ORM, with obs's django instrumentation on and no list
    of instrumentations given (``obs init`` writes one: a project that also calls its driver directly gets
    the driver's instrumentation there)."""
    return (candidate.name in ORM_DRIVERS and not _chosen_explicitly[0] and "django" in _done
            and any(name.startswith("django.db.backends.") for name in sys.modules))


_done: set[str] = set()
_done_lock = threading.Lock()
_own_middleware = [True]


def use_own_middleware(enabled: bool) -> None:
    """Whether :data:`OWN_MIDDLEWARE` replaces the contrib instrumentors (the running settings say)."""
    _own_middleware[0] = enabled


def activate(candidate: Candidate) -> bool:
    """Check the dependencies and instrument; at most once per name. Never raises."""
    with _done_lock:
        if candidate.name in _done:
            return False
        _done.add(candidate.name)
    if _driver_of_django(candidate):
        return False
    import importlib

    try:
        own = (OWN_MIDDLEWARE if _own_middleware[0] else CONTRIB_WHEN_READY).get(candidate.name)
        if own is not None:
            module_name, _, function = own.partition(":")
            getattr(importlib.import_module(module_name), function)()
            return True
        from importlib.metadata import PathDistribution
        from pathlib import Path

        from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts

        conflict = get_dist_dependency_conflicts(PathDistribution(Path(candidate.dist_path)))
        if conflict is not None:
            if conflict.found or conflict.found_any:
                say_once(f"conflict:{candidate.name}",
                         f"the {candidate.name} instrumentation is off: {_describe_conflict(conflict)}")
            return False
        module_name, _, attribute = candidate.target.partition(":")
        instrumentor_class = getattr(importlib.import_module(module_name), attribute)
        kwargs = instrument_kwargs(candidate.name, instrumentor_class)
        if candidate.name == "asyncpg":  # before contrib's wrappers: obs's then run inside its spans
            from obs.agent._integrations.asyncpg_ops import instrument_asyncpg

            instrument_asyncpg()
        elif candidate.name == "redis":  # the same: obs's wrappers rename contrib's spans
            from obs.agent._integrations.redis_commands import instrument_redis

            instrument_redis()
        instrumentor_class().instrument(skip_dep_check=True, **kwargs)
        if candidate.name in DBAPI_DRIVERS:
            from obs.agent._integrations.database import enhance_dbapi

            enhance_dbapi()
        elif candidate.name == "celery":
            from obs.agent._integrations.celery_tasks import instrument_celery

            instrument_celery()
        return True
    except Exception as error:
        error_once(f"the {candidate.name} instrumentation", error)
        return False


def _describe_conflict(conflict: object) -> str:
    """``it supports shaky>=1.0, installed: shaky 0.5`` (the contrib's own text is three times as long)."""
    required = getattr(conflict, "required", None) or " or ".join(getattr(conflict, "required_any", ()) or ())
    found = getattr(conflict, "found", None) or ", ".join(getattr(conflict, "found_any", ()) or ())
    if not required or not found:
        return str(conflict)
    wanted = ", ".join(part.partition(";")[0].strip() for part in str(required).split(" or "))
    return f"it supports {wanted}, installed: {found}"


def instrument_kwargs(name: str, instrumentor_class: object) -> dict[str, object]:
    """The :data:`KWARGS` of ``name`` that this version's ``instrument_app`` takes (older ones lack some)."""
    wanted = KWARGS.get(name)
    if not wanted:
        return {}
    import inspect

    try:
        accepted = inspect.signature(instrumentor_class.instrument_app).parameters  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError):
        return {}
    return {key: value for key, value in wanted.items() if key in accepted}

