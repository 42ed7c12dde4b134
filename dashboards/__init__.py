"""obs.dashboards: Grafana dashboards as code, built with grafanalib from obs's telemetry catalog.

Pure: settings in, file contents out. :func:`render` gives the files of ``observability/dashboards/``: the
editable sources ``src/<name>.py`` and the JSON Grafana provisions, ``<name>.json``, built from exactly that
source text. ``obs dashboards build`` rebuilds the JSON from the (edited) sources with :func:`build`.

Sources import their building blocks from the installed obs: :mod:`obs.dashboards.kit` (the dashboard frame,
rows, variables), :mod:`obs.dashboards.panels`, and the query builders :mod:`obs.dashboards.promql`,
:mod:`obs.dashboards.logql`, :mod:`obs.dashboards.traceql`. Upgrading obs improves the building blocks of
dashboards a user has edited, without touching their edits.
"""

from __future__ import annotations

from obs.agent.settings import Settings
from obs.dashboards._build import DashboardSourceError, build, build_source, shipped_sources
from obs.dashboards.lint import lint, schema_check_status
from obs.dashboards.queries import Query, queries
from obs.dashboards.sources import NAMES

__all__ = [
    "NAMES",
    "SOURCE_DIR",
    "DashboardSourceError",
    "Query",
    "build",
    "build_source",
    "lint",
    "queries",
    "render",
    "schema_check_status",
    "shipped_sources",
]

SOURCE_DIR = "dashboards/src"
"""Where the editable sources live, relative to the project's observability/ folder."""


def render(settings: Settings) -> dict[str, str]:
    """Path under observability/ -> text: ``dashboards/src/<name>.py`` and ``dashboards/<name>.json``.

    A dashboard with nothing to show for this project (no HTTP client or database instrumentation for
    ``dependencies``) is left out, source and JSON alike.
    """
    sources = shipped_sources()
    files: dict[str, str] = {}
    for name, text in build(sources, settings).items():
        if text is not None:
            files[f"{SOURCE_DIR}/{name}.py"] = sources[f"{name}.py"]
            files[f"dashboards/{name}.json"] = text
    return files
