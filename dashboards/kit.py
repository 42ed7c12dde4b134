"""The building blocks a dashboard source file imports: rows, the dashboard frame, and its conventions.

A project's ``observability/dashboards/src/<name>.py`` defines ``dashboard(settings)`` and builds its
dashboard with this module (``kit.dashboard(name, title, settings, rows)``), the panel builders of
:mod:`obs.dashboards.panels` and the query builders of :mod:`obs.dashboards.promql`,
:mod:`obs.dashboards.logql` and :mod:`obs.dashboards.traceql`. Any grafanalib panel fits in a
:class:`Row` too.

What every obs dashboard shares is decided here: the uid ``obs-<name>``, the ``obs`` tag and the links to
the other ``obs`` dashboards, the datasource and scope variables, and the layout (panels fill rows of 24
columns left to right, in the order given).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import attr
from grafanalib import core as G
from obs.agent.catalog import Source
from obs.agent.settings import Settings
from obs.dashboards._modernize import to_json
from obs.dashboards.variables import SIGNALS, Signal, datasource_variable, scope_variables

__all__ = [
    "DEPENDENCY_INSTRUMENTATIONS",
    "TAG",
    "Row",
    "custom_variable",
    "dashboard",
    "textbox_variable",
    "to_json",
    "uid",
    "uses",
]

TAG: Final = "obs"
"""Tag of every obs dashboard; the dashboards link to each other through it."""

COLUMNS: Final = 24

DEPENDENCY_INSTRUMENTATIONS: Final[dict[Source, frozenset[str]]] = {
    Source.HTTP_CLIENT: frozenset({"aiohttp-client", "httpx", "requests", "urllib", "urllib3"}),
    Source.DATABASE: frozenset({
        "aiopg", "asyncpg", "dbapi", "mysql", "mysqlclient", "psycopg", "psycopg2", "pymssql", "pymysql",
        "redis", "sqlalchemy", "sqlite3",
    }),
}
"""Instrumentations (``opentelemetry_instrumentor`` entry point names) behind each dependency row: those whose
calls end up as the catalog's ``http.client.request.duration`` or ``db.client.operation.duration`` (the DB-API
family; SQLAlchemy through the driver under it; asyncpg and Redis through obs.agent._integrations). Others
(pymongo...) emit no such metric, so they would only bring empty panels."""


def uid(name: str) -> str:
    """The stable uid of the obs dashboard ``name``: links and ``obs dashboards push`` rely on it."""
    return f"obs-{name}"


def uses(settings: Settings, source: Source) -> bool:
    """Whether the app has an instrumentation of this kind; no configured list means "show everything"."""
    if not settings.instrumentations:
        return True
    return bool(DEPENDENCY_INSTRUMENTATIONS.get(source, frozenset()) & set(settings.instrumentations))


@dataclass(frozen=True)
class Row:
    """A titled row of panels; ``collapsed`` rows keep their panels folded until opened."""

    title: str
    panels: Sequence[Any] = field(default_factory=tuple)
    collapsed: bool = False


def custom_variable(name: str, title: str, options: Sequence[str], default: str) -> dict[str, Any]:
    """A variable with fixed choices (``$name``)."""
    if default not in options:
        raise ValueError(f"default {default!r} of variable `{name}` is not one of {list(options)}")
    return {
        "current": {"selected": True, "text": default, "value": default},
        "hide": 0,
        "includeAll": False,
        "label": title,
        "multi": False,
        "name": name,
        "options": [{"selected": option == default, "text": option, "value": option} for option in options],
        "query": ",".join(options),
        "type": "custom",
    }


def textbox_variable(name: str, title: str, default: str = "") -> dict[str, Any]:
    """A free-text variable (``$name``), e.g. a search string."""
    return {
        "current": {"text": default, "value": default},
        "hide": 0,
        "label": title,
        "name": name,
        "options": [{"selected": True, "text": default, "value": default}],
        "query": default,
        "type": "textbox",
    }


def _place(panels: Sequence[Any], top: int) -> tuple[list[Any], int]:
    """Panels left to right from ``top``, wrapping at 24 columns; returns them placed and the next free y."""
    placed: list[Any] = []
    x, y, tallest = 0, top, 0
    for panel in panels:
        size = panel.gridPos or G.GridPos(h=8, w=12, x=0, y=0)
        if x + size.w > COLUMNS:
            x, y, tallest = 0, y + tallest, 0
        placed.append(attr.evolve(panel, gridPos=G.GridPos(h=size.h, w=size.w, x=x, y=y)))
        x += size.w
        tallest = max(tallest, size.h)
    return placed, y + tallest


def _layout(rows: Sequence[Row]) -> list[Any]:
    panels: list[Any] = []
    y = 0
    for row in rows:
        placed, bottom = _place(row.panels, y + 1)
        header = G.GridPos(h=1, w=COLUMNS, x=0, y=y)
        if row.collapsed:
            panels.append(G.RowPanel(title=row.title, gridPos=header, collapsed=True, panels=placed))
            y += 1
        else:
            panels.append(G.RowPanel(title=row.title, gridPos=header))
            panels.extend(placed)
            y = bottom
    return panels


_SIGNAL_UID = re.compile(r"^\$\{?(" + "|".join(SIGNALS) + r")\}?$")


def _signals(panels: Iterable[Any]) -> list[Signal]:
    """The datasource variables the panels refer to, in the order of :data:`SIGNALS`."""
    used: set[str] = set()
    for panel in panels:
        for child in (panel, *getattr(panel, "panels", ())):
            source = getattr(child, "dataSource", None)
            match = _SIGNAL_UID.match(source.get("uid", "")) if isinstance(source, dict) else None
            if match:
                used.add(match.group(1))
    return [signal for signal in SIGNALS if signal in used or signal == "metrics"]


def dashboard(
    name: str,
    title: str,
    settings: Settings,
    rows: Sequence[Row],
    *,
    description: str = "",
    variables: Sequence[dict[str, Any]] = (),
    time_from: str = "now-1h",
    refresh: str = "30s",
) -> G.Dashboard:
    """An obs dashboard: stable uid, ``obs`` tag and links, datasource and scope variables, laid-out rows.

    ``variables`` come after the standard ones; the scope variables default to this project's service and
    environment (``settings.service_name``, ``settings.environment``).
    """
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,35}", name):
        raise ValueError(f"dashboard name {name!r} must be lowercase letters, digits, - or _ (at most 36)")
    panels = _layout(rows)
    templating = [
        *(datasource_variable(signal) for signal in _signals(panels)),
        *scope_variables(settings),
        *variables,
    ]
    return G.Dashboard(
        title=title,
        uid=uid(name),
        description=description,
        tags=[TAG],
        panels=panels,
        templating=G.Templating(list=templating),
        links=[
            G.DashboardLink(
                title="obs dashboards",
                type="dashboards",
                tags=[TAG],
                asDropdown=False,
                includeVars=True,
                keepTime=True,
                icon="dashboard",
            ),
        ],
        time=G.Time(time_from, "now"),
        refresh=refresh,
        timezone="browser",
        graphTooltip=1,
        editable=True,
    )
