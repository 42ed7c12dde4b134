"""Targets and panels with obs's defaults: grafanalib panels, datasource variables, sizes for the layout.

Targets are plain dicts (grafanalib has no Loki or Tempo targets and no ``exemplar`` flag); each builder sets
the datasource variable of its signal. Panels take their size as ``width`` (of 24 columns) and ``height``;
:func:`obs.dashboards.kit.dashboard` places them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from string import ascii_uppercase
from typing import Any

from grafanalib import core as G
from obs.agent.catalog import DATASOURCE_UIDS
from obs.dashboards.variables import DATASOURCE_TYPES, SIGNALS, Signal, datasource

__all__ = [
    "Target",
    "explore_trace",
    "link",
    "logs",
    "loki",
    "prometheus",
    "stat",
    "table",
    "tempo",
    "timeseries",
    "traces",
]

Target = dict[str, Any]

_BASE_STEP = {"color": "green", "value": None}


def prometheus(
    expr: str, legend: str = "", *, instant: bool = False, table: bool = False, exemplar: bool = False
) -> Target:
    """A PromQL target; ``instant`` for tables and single values, ``exemplar`` to show trace exemplars."""
    target: Target = {
        "datasource": datasource("metrics"),
        "editorMode": "code",
        "expr": expr,
        "instant": instant,
        "legendFormat": legend or "__auto",
        "range": not instant,
    }
    if table:
        target["format"] = "table"
    if exemplar:
        target["exemplar"] = True
    return target


def loki(expr: str, legend: str = "", *, max_lines: int | None = None) -> Target:
    """A LogQL target: log lines, or a metric query over them."""
    target: Target = {
        "datasource": datasource("logs"),
        "editorMode": "code",
        "expr": expr,
        "queryType": "range",
    }
    if legend:
        target["legendFormat"] = legend
    if max_lines is not None:
        target["maxLines"] = max_lines
    return target


def tempo(traceql: str, *, limit: int = 20) -> Target:
    """A TraceQL search; Grafana shows one row per trace."""
    return {
        "datasource": datasource("traces"),
        "filters": [],
        "limit": limit,
        "query": traceql,
        "queryType": "traceql",
        "tableType": "traces",
    }


def link(title: str, dashboard: str) -> dict[str, Any]:
    """A panel link to another obs dashboard (by name), keeping the time range and the variables."""
    return {
        "targetBlank": False,
        "title": title,
        "url": f"/d/obs-{dashboard}?${{__url_time_range}}&${{__all_variables}}",
    }


def explore_trace(trace_id: str = "${__value.raw}") -> dict[str, Any]:
    """A data link that opens one trace in Grafana's Explore, on obs's Tempo datasource."""
    pane = {
        "datasource": DATASOURCE_UIDS["traces"],
        "queries": [{"refId": "A", "datasource": {"type": "tempo", "uid": DATASOURCE_UIDS["traces"]},
                     "queryType": "traceql", "query": trace_id}],
        "range": {"from": "now-1h", "to": "now"},
    }
    return {"title": "Open the trace", "url": "/explore?schemaVersion=1&panes="
            + json.dumps({"t": pane}, separators=(",", ":"), sort_keys=True)}


def _signal(targets: Sequence[Target]) -> Signal:
    """The one signal a panel's targets query (Grafana runs a panel's targets on one datasource)."""
    kinds = {target["datasource"]["type"] for target in targets}
    if len(kinds) != 1:
        raise ValueError(f"a panel's targets must all use one datasource, got {sorted(kinds) or 'none'}")
    kind = kinds.pop()
    return next(signal for signal in SIGNALS if DATASOURCE_TYPES[signal] == kind)


def _lettered(targets: Sequence[Target]) -> list[Target]:
    if len(targets) > len(ascii_uppercase):
        raise ValueError(f"a panel takes at most {len(ascii_uppercase)} targets")
    return [{**target, "refId": letter} for target, letter in zip(targets, ascii_uppercase, strict=False)]


def _size(width: int, height: int) -> G.GridPos:
    if not 1 <= width <= 24:
        raise ValueError(f"panel width {width} is outside 1..24 columns")
    return G.GridPos(h=height, w=width, x=0, y=0)


def _common(
    title: str,
    targets: Sequence[Target],
    description: str,
    width: int,
    height: int,
    links: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    return {
        "title": title,
        "description": description or None,
        "dataSource": datasource(_signal(targets)),
        "targets": _lettered(targets),
        "gridPos": _size(width, height),
        "links": [dict(item) for item in links],
    }


def timeseries(
    title: str,
    *targets: Target,
    unit: str = "",
    description: str = "",
    width: int = 12,
    height: int = 8,
    bars: bool = False,
    stack: bool = False,
    no_value: str | None = None,
    links: Sequence[Mapping[str, Any]] = (),
) -> G.TimeSeries:
    """A time series; ``bars`` and ``stack`` for counts over time."""
    panel = G.TimeSeries(
        **_common(title, targets, description, width, height, links),
        unit=unit,
        drawStyle="bars" if bars else "line",
        fillOpacity=60 if bars else 10,
        stacking={"group": "A", "mode": "normal"} if stack else {},
        showPoints="never",
        tooltipMode="multi",
        tooltipSort="desc",
    )
    if no_value is not None:
        panel.extraJson = {"fieldConfig": {"defaults": {"noValue": no_value}}}
    return panel


def stat(
    title: str,
    target: Target,
    *,
    unit: str = "none",
    description: str = "",
    width: int = 6,
    height: int = 4,
    no_value: str | None = None,
    thresholds: Sequence[tuple[float, str]] = (),
    links: Sequence[Mapping[str, Any]] = (),
) -> G.Stat:
    """One number (the last value) with its sparkline; ``thresholds`` as ``(value, colour)`` pairs."""
    steps = [dict(_BASE_STEP), *({"color": colour, "value": value} for value, colour in thresholds)]
    return G.Stat(
        **_common(title, [target], description, width, height, links),
        format=unit,
        noValue=no_value,
        reduceCalc="lastNotNull",
        colorMode="value",
        graphMode="area",
        thresholds=steps,
    )


def table(
    title: str,
    *targets: Target,
    columns: Mapping[str, tuple[str, str]] | None = None,
    hide: Sequence[str] = ("Time",),
    sort_by: str | None = None,
    description: str = "",
    width: int = 24,
    height: int = 8,
    links: Sequence[Mapping[str, Any]] = (),
    cell_links: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> G.Table:
    """A table merging instant ``format: table`` targets; ``columns`` maps a field to ``(title, unit)``.

    Prometheus names a value column ``Value #<refId>``: ``{"Value #A": ("Requests/s", "reqps")}``.
    ``cell_links`` maps a column (as shown) to data links on each of its cells (``${__value.raw}`` is the
    cell's value, ``${__data.fields.<name>}`` another column of the row).
    """
    columns = dict(columns or {})
    transformations: list[dict[str, Any]] = []
    if len(targets) > 1:
        transformations.append({"id": "merge", "options": {}})
    transformations.append(
        {
            "id": "organize",
            "options": {
                "excludeByName": {name: True for name in hide},
                "renameByName": {field: shown for field, (shown, _) in columns.items()},
            },
        }
    )
    overrides = [
        {"matcher": {"id": "byName", "options": shown}, "properties": [{"id": "unit", "value": unit}]}
        for shown, unit in columns.values()
    ]
    overrides += [
        {"matcher": {"id": "byName", "options": shown},
         "properties": [{"id": "links", "value": [dict(item) for item in items]}]}
        for shown, items in (cell_links or {}).items()
    ]
    sorting = [G.TableSortByField(displayName=sort_by, desc=True)] if sort_by else []
    return G.Table(
        **_common(title, targets, description, width, height, links),
        transformations=transformations,
        overrides=overrides,
        sortBy=sorting,
    )


def logs(
    title: str,
    target: Target,
    *,
    description: str = "",
    width: int = 24,
    height: int = 10,
    links: Sequence[Mapping[str, Any]] = (),
) -> G.Logs:
    """Log lines, newest first, with details (the Loki datasource links each ``trace_id`` to its trace)."""
    return G.Logs(
        **_common(title, [target], description, width, height, links),
        showTime=True,
        wrapLogMessages=True,
        enableLogDetails=True,
        prettifyLogMessage=False,
        sortOrder="Descending",
    )


def traces(
    title: str,
    target: Target,
    *,
    description: str = "",
    width: int = 12,
    height: int = 10,
    sort_by: str = "Duration",
    links: Sequence[Mapping[str, Any]] = (),
) -> G.Table:
    """Traces found by a TraceQL search, one row each; a trace id opens the trace."""
    return G.Table(
        **_common(title, [target], description, width, height, links),
        sortBy=[G.TableSortByField(displayName=sort_by, desc=True)],
    )
