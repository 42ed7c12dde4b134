"""From grafanalib's output to the dashboard JSON a current Grafana writes itself.

grafanalib 0.7.1 emits schemaVersion 12 with keys Grafana dropped years ago (``rows``, ``style``,
``span``...), a Stat panel whose ``thresholds.steps`` is ``""``, and ``null`` for every unset option.
Grafana migrates such JSON on load but shows it as modified, and linters reject it. This module rewrites it
in the current schema and serialises it deterministically (sorted keys, two-space indent, trailing
newline), so regenerating an unchanged dashboard changes no byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final

from grafanalib import core as G
from grafanalib._gen import DashboardEncoder

__all__ = ["SCHEMA_VERSION", "drop_nulls", "dumps", "modernize", "to_json"]

SCHEMA_VERSION: Final = 41
"""Grafana 11.6's dashboard schema (the version the pinned grafana-foundation-sdk models)."""

LEGACY_DASHBOARD_KEYS: Final = frozenset(
    {
        "__inputs",
        "hideControls",
        "id",
        "rows",
        "sharedCrosshair",
        "style",
    }
)
LEGACY_PANEL_KEYS: Final = frozenset(
    {
        "cacheTimeout",
        "color",
        "columns",
        "editable",
        "error",
        "fontSize",
        "height",
        "mappings",
        "minSpan",
        "span",
        "styles",
        "thresholdType",
    }
)
ROW_KEYS: Final = frozenset({"collapsed", "gridPos", "id", "panels", "repeat", "title", "type"})
LEGACY_TARGET_KEYS: Final = frozenset({"intervalFactor", "metric", "step", "target"})
LEGACY_VARIABLE_KEYS: Final = frozenset({"tagValuesQuery", "tags", "tagsQuery", "useTags"})
INTERVAL_VARIABLE_KEYS: Final = frozenset({"auto", "auto_count", "auto_min"})
GRAFANALIB_MAX_DATA_POINTS: Final = 100
"""grafanalib's default, far below a panel's width in pixels: it would coarsen every graph. Grafana's own
default (the panel width) applies when the key is absent."""


def drop_nulls(node: Any) -> Any:
    """``node`` without the nulls Grafana treats as absent (the SDK's models reject them)."""
    if isinstance(node, dict):
        return {key: drop_nulls(value) for key, value in node.items() if value is not None}
    if isinstance(node, list):
        return [drop_nulls(item) for item in node if item is not None]
    return node


def _clean_target(target: dict[str, Any]) -> dict[str, Any]:
    cleaned = {key: value for key, value in target.items() if key not in LEGACY_TARGET_KEYS}
    if cleaned.get("query") == cleaned.get("expr") and "expr" in cleaned:
        cleaned.pop("query")  # grafanalib's Target repeats the expression under a legacy key
    if cleaned.get("interval") == "":
        cleaned.pop("interval")
    return cleaned


def _clean_field_config(panel: dict[str, Any]) -> None:
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    thresholds = defaults.get("thresholds")
    steps = thresholds.get("steps") if isinstance(thresholds, dict) else None
    if isinstance(thresholds, dict) and (not isinstance(steps, list) or not steps):
        # grafanalib's Stat writes steps: "" and other panels []; Grafana's own base step is green from -inf.
        thresholds["steps"] = [{"color": "green", "value": None}]
    custom = defaults.get("custom")
    if panel.get("type") == "table" and isinstance(custom, dict) and "displayMode" in custom:
        # Grafana 10 replaced the table's displayMode with cellOptions.
        custom.setdefault("cellOptions", {"type": custom.pop("displayMode")})
    if isinstance(custom, dict):
        if custom.get("axisLabel") == "":
            custom.pop("axisLabel")
        if custom.get("stacking") == {}:
            custom["stacking"] = {"group": "A", "mode": "none"}
    if defaults.get("unit") == "":
        defaults.pop("unit")


def _clean_panel(panel: dict[str, Any]) -> dict[str, Any]:
    if panel.get("type") == "row":
        row = {key: value for key, value in panel.items() if key in ROW_KEYS}
        row["panels"] = [_clean_panel(child) for child in row.get("panels", [])]
        return row
    cleaned = {key: value for key, value in panel.items() if key not in LEGACY_PANEL_KEYS}
    if cleaned.get("maxDataPoints") == GRAFANALIB_MAX_DATA_POINTS:
        cleaned.pop("maxDataPoints")
    if not cleaned.get("repeat"):
        for key in ("repeat", "repeatDirection", "maxPerRow"):
            cleaned.pop(key, None)
    if cleaned.get("hideTimeOverride") is False:
        cleaned.pop("hideTimeOverride")
    if isinstance(cleaned.get("datasource"), str):
        cleaned["datasource"] = {"uid": cleaned["datasource"]}
    cleaned["targets"] = [_clean_target(target) for target in cleaned.get("targets", [])]
    _clean_field_config(cleaned)
    return cleaned


def _clean_variable(variable: dict[str, Any]) -> dict[str, Any]:
    cleaned = {key: value for key, value in variable.items() if key not in LEGACY_VARIABLE_KEYS}
    if cleaned.get("type") != "interval":
        cleaned = {key: value for key, value in cleaned.items() if key not in INTERVAL_VARIABLE_KEYS}
    current = cleaned.get("current")
    if isinstance(current, dict):
        cleaned["current"] = {key: value for key, value in current.items() if key != "tags"}
    if isinstance(cleaned.get("datasource"), str):
        cleaned["datasource"] = {"uid": cleaned["datasource"]}
    return cleaned


def _walk_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _walk_panels(panel.get("panels", []))


def modernize(data: dict[str, Any]) -> dict[str, Any]:
    """grafanalib's ``to_json_data()`` output (as plain JSON values) in the current dashboard schema."""
    dashboard = {key: value for key, value in data.items() if key not in LEGACY_DASHBOARD_KEYS}
    dashboard["schemaVersion"] = SCHEMA_VERSION
    if dashboard.get("version") == 0:
        dashboard.pop("version")
    picker = dashboard.get("timepicker")
    if isinstance(picker, dict):
        picker.pop("time_options", None)
    dashboard["panels"] = [_clean_panel(panel) for panel in dashboard.get("panels", [])]
    for number, panel in enumerate(_walk_panels(dashboard["panels"]), start=1):
        panel["id"] = number
    templating = dashboard.get("templating", {})
    templating["list"] = [_clean_variable(variable) for variable in templating.get("list", [])]
    dashboard["templating"] = templating
    result: dict[str, Any] = drop_nulls(dashboard)
    return result


def dumps(data: Any) -> str:
    """Deterministic JSON text: sorted keys, two-space indent, UTF-8 kept, one trailing newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def to_json(dashboard: G.Dashboard) -> str:
    """A grafanalib dashboard as the JSON file Grafana provisions."""
    plain = json.loads(json.dumps(dashboard.to_json_data(), cls=DashboardEncoder))
    return dumps(modernize(plain))
