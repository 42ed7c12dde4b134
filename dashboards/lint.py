"""Checks of a dashboard's JSON: obs's structural rules, then Grafana's schema through grafana-foundation-sdk.

The structural rules catch what Grafana accepts silently but shows wrongly: legacy keys, overlapping or
out-of-grid panels, duplicate ids and refIds, queries that name undefined template variables, datasource
references to nothing. The schema check loads the JSON (nulls dropped) with the pinned SDK's
``Dashboard.from_json``, re-encodes it, and reports every key the schema does not know (the SDK drops them
silently). The SDK is a development dependency: without it only the structural rules run, and
:func:`schema_check_status` says so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from obs.agent.catalog import DATASOURCE_UIDS
from obs.dashboards._modernize import (
    LEGACY_DASHBOARD_KEYS,
    LEGACY_PANEL_KEYS,
    LEGACY_TARGET_KEYS,
    SCHEMA_VERSION,
    drop_nulls,
)

__all__ = ["MIN_SCHEMA_VERSION", "lint", "schema_check_status", "schema_problems", "structure_problems"]

MIN_SCHEMA_VERSION: Final = 36
"""Below this Grafana migrates the dashboard on load (datasources by name, old panel options)."""

SDK_REQUIREMENT: Final = "grafana-foundation-sdk==1769699379!11.6.0"
"""The pinned SDK (the epoch matters: a plain install picks an old Grafana 10.1 build)."""

_BUILTIN_DATASOURCES: Final = frozenset({"-- Grafana --", "-- Mixed --", "-- Dashboard --", "grafana"})
_VARIABLE: Final = re.compile(
    r"\$\{([A-Za-z0-9_]+)(?:[.:][^}]*)?\}"  # ${name}, ${name:format}, ${name.field}
    r"|\[\[([A-Za-z0-9_]+)(?::[^\]]*)?\]\]"  # [[name]] (deprecated but accepted)
    r"|\$([A-Za-z_]\w*)"  # $name
)
_QUERY_KEYS: Final = ("expr", "query")
_COLUMNS: Final = 24


def _walk_panels(panels: Any) -> Iterator[dict[str, Any]]:
    for panel in panels if isinstance(panels, list) else []:
        if isinstance(panel, dict):
            yield panel
            yield from _walk_panels(panel.get("panels"))


def _name(panel: Mapping[str, Any]) -> str:
    return f"panel {panel.get('title') or panel.get('id') or '(untitled)'!r}"


def _legacy(document: Mapping[str, Any]) -> list[str]:
    legacy = sorted((LEGACY_DASHBOARD_KEYS - {"id"}) & set(document))
    problems = [f"legacy key `{key}` (removed from Grafana's schema)" for key in legacy]
    for panel in _walk_panels(document.get("panels")):
        for key in sorted(LEGACY_PANEL_KEYS & set(panel)):
            problems.append(f"{_name(panel)}: legacy key `{key}`")
        for target in panel.get("targets") or []:
            for key in sorted(LEGACY_TARGET_KEYS & set(target)):
                problems.append(f"{_name(panel)}: legacy target key `{key}`")
    return problems


def _grid(panels: list[dict[str, Any]]) -> list[str]:
    """Panels on one level (top level, or inside one collapsed row) stay inside 24 columns, apart."""
    problems: list[str] = []
    boxes: list[tuple[str, int, int, int, int]] = []
    for panel in panels:
        grid = panel.get("gridPos")
        if not isinstance(grid, dict) or not all(isinstance(grid.get(k), int) for k in "xywh"):
            problems.append(f"{_name(panel)}: gridPos needs integer x, y, w and h")
            continue
        x, y, w, h = grid["x"], grid["y"], grid["w"], grid["h"]
        if x < 0 or y < 0 or w < 1 or h < 1 or x + w > _COLUMNS:
            problems.append(f"{_name(panel)}: gridPos {x},{y} {w}x{h} falls outside the 24-column grid")
        for other, ox, oy, ow, oh in boxes:
            if x < ox + ow and ox < x + w and y < oy + oh and oy < y + h:
                problems.append(f"{_name(panel)} overlaps {other}")
        boxes.append((_name(panel), x, y, w, h))
    for panel in panels:
        if panel.get("type") == "row" and panel.get("panels"):
            problems.extend(_grid([child for child in panel["panels"] if isinstance(child, dict)]))
    return problems


def _variables(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    listed = (document.get("templating") or {}).get("list") or []
    return {
        item["name"]: item for item in listed if isinstance(item, dict) and isinstance(item.get("name"), str)
    }


def _referenced(text: str) -> set[str]:
    names = set()
    for match in _VARIABLE.finditer(text):
        name = next(group for group in match.groups() if group)
        if not name.startswith("__") and not name.isdigit():
            names.add(name)
    return names


def _datasource(where: str, ref: Any, variables: Mapping[str, dict[str, Any]]) -> list[str]:
    if ref is None or (isinstance(ref, str) and ref in _BUILTIN_DATASOURCES):
        return []
    if not isinstance(ref, dict):
        return [f"{where}: datasource must be an object with a uid (a name is a legacy reference)"]
    uid = ref.get("uid")
    if not isinstance(uid, str) or not uid:
        return [f"{where}: datasource has no uid"]
    if uid in _BUILTIN_DATASOURCES or uid in DATASOURCE_UIDS.values():
        return []
    names = _referenced(uid)
    if not names:
        return [
            f"{where}: datasource uid `{uid}` is neither obs's ({', '.join(DATASOURCE_UIDS.values())}) "
            "nor a datasource variable"
        ]
    problems = []
    for name in sorted(names):
        variable = variables.get(name)
        if variable is None or variable.get("type") != "datasource":
            problems.append(f"{where}: datasource `{uid}` names no datasource variable `{name}`")
        elif ref.get("type") and variable.get("query") != ref.get("type"):
            problems.append(
                f"{where}: datasource type `{ref.get('type')}` but `${name}` picks "
                f"`{variable.get('query')}` datasources"
            )
    return problems


def _panels(document: Mapping[str, Any], variables: Mapping[str, dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    ids: dict[Any, str] = {}
    for panel in _walk_panels(document.get("panels")):
        name = _name(panel)
        if not isinstance(panel.get("type"), str) or not panel["type"]:
            problems.append(f"{name}: no type")
        if panel.get("id") in ids:
            problems.append(f"{name}: id {panel.get('id')} is also {ids[panel.get('id')]}'s")
        ids[panel.get("id")] = name
        defaults = (panel.get("fieldConfig") or {}).get("defaults") or {}
        steps = (defaults.get("thresholds") or {}).get("steps", [])
        if not isinstance(steps, list):
            problems.append(f"{name}: fieldConfig.defaults.thresholds.steps must be a list")
        problems.extend(_datasource(name, panel.get("datasource"), variables))
        refs: set[str] = set()
        for target in panel.get("targets") or []:
            ref_id = target.get("refId")
            if not ref_id:
                problems.append(f"{name}: a target has no refId")
            elif ref_id in refs:
                problems.append(f"{name}: refId {ref_id} used twice")
            refs.add(ref_id)
            if "datasource" in target:
                problems.extend(_datasource(f"{name} target {ref_id}", target["datasource"], variables))
            text = " ".join(str(target[key]) for key in _QUERY_KEYS if isinstance(target.get(key), str))
            if not text.strip():
                problems.append(f"{name} target {ref_id}: empty query")
            for missing in sorted(_referenced(text) - set(variables)):
                problems.append(f"{name} target {ref_id}: uses `${missing}`, which is no template variable")
    return problems


def _templating(variables: Mapping[str, dict[str, Any]], document: Mapping[str, Any]) -> list[str]:
    problems = []
    listed = (document.get("templating") or {}).get("list") or []
    if len(listed) != len(variables):
        problems.append("template variables must each have a unique name")
    for name, variable in variables.items():
        query = variable.get("query")
        text = query if isinstance(query, str) else json.dumps(query or "")
        for missing in sorted(_referenced(text) - set(variables)):
            problems.append(f"variable `{name}`: uses `${missing}`, which is not a template variable")
        if variable.get("type") == "query":
            problems.extend(_datasource(f"variable `{name}`", variable.get("datasource"), variables))
    return problems


def structure_problems(document: Any) -> list[str]:
    """obs's structural rules on a parsed dashboard; an empty list when it passes."""
    if not isinstance(document, dict):
        return ["a dashboard must be a JSON object"]
    problems: list[str] = []
    uid = document.get("uid")
    if not isinstance(uid, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid):
        problems.append("`uid` must be 1 to 40 letters, digits, - or _ (a stable uid keeps links and pushes)")
    if not isinstance(document.get("title"), str) or not document["title"].strip():
        problems.append("`title` is missing")
    version = document.get("schemaVersion")
    if not isinstance(version, int) or version < MIN_SCHEMA_VERSION:
        problems.append(f"`schemaVersion` {version} is legacy; write {SCHEMA_VERSION}")
    if not isinstance(document.get("panels", []), list):
        problems.append("`panels` must be a list")
        return problems
    variables = _variables(document)
    problems.extend(_legacy(document))
    problems.extend(_grid([panel for panel in document.get("panels", []) if isinstance(panel, dict)]))
    problems.extend(_panels(document, variables))
    problems.extend(_templating(variables, document))
    return problems


def _lost(given: Any, kept: Any, path: str) -> Iterator[str]:
    """Paths of keys present in ``given`` but gone after the SDK's round trip."""
    if isinstance(given, dict) and isinstance(kept, dict):
        for key, value in given.items():
            where = f"{path}.{key}" if path else key
            if key not in kept:
                yield where
            else:
                yield from _lost(value, kept[key], where)
    elif isinstance(given, list) and isinstance(kept, list):
        for index, (value, back) in enumerate(zip(given, kept, strict=False)):
            yield from _lost(value, back, f"{path}[{index}]")


def _sdk() -> tuple[Any, Any] | None:
    try:
        from grafana_foundation_sdk.cog import plugins
        from grafana_foundation_sdk.cog.encoder import JSONEncoder
        from grafana_foundation_sdk.models.dashboard import Dashboard
    except ImportError:
        return None
    plugins.register_default_plugins()
    return Dashboard, JSONEncoder


def schema_check_status() -> str | None:
    """None when the schema check runs; otherwise why not and how to enable it (one line)."""
    if _sdk() is None:
        return (
            f"Grafana schema check skipped: grafana-foundation-sdk is not installed "
            f"(pip install '{SDK_REQUIREMENT}')"
        )
    return None


def schema_problems(document: Any) -> list[str]:
    """Grafana's dashboard schema (the SDK's models) on a parsed dashboard; [] when the SDK is missing."""
    sdk = _sdk()
    if sdk is None or not isinstance(document, dict):
        return []
    dashboard_model, encoder = sdk
    given = drop_nulls(document)
    try:
        model = dashboard_model.from_json(given)
        kept = json.loads(json.dumps(model, cls=encoder))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        kind = type(error).__name__
        return [f"does not load as a Grafana dashboard (grafana-foundation-sdk): {kind}: {error}"]
    return [f"`{path}` is not in Grafana's dashboard schema" for path in _lost(given, kept, "")]


def lint(json_text: str) -> list[str]:
    """Every problem found in a dashboard's JSON text, one line each; [] when it is clean.

    Runs the structural rules, then Grafana's schema when grafana-foundation-sdk is installed (see
    :func:`schema_check_status`).
    """
    try:
        document = json.loads(json_text)
        return [*structure_problems(document), *schema_problems(document)]
    except json.JSONDecodeError as error:
        return [f"not valid JSON ({error.msg} at line {error.lineno})"]
    except RecursionError:
        # Thousands of nested brackets overflow the parser (or the walk over what it returned).
        return ["nested too deeply to read (brackets hundreds of levels deep)"]
