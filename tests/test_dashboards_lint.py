"""obs.dashboards.lint: structural rules and Grafana's schema (grafana-foundation-sdk) on dashboard JSON."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from grafanalib import core as G
from grafanalib._gen import DashboardEncoder
from obs.agent.settings import load_settings
from obs.dashboards import lint, render, schema_check_status


@pytest.fixture(scope="module")
def overview(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = load_settings({"service_name": "shop"}, environ={}, cwd=tmp_path_factory.mktemp("project"))
    document: dict[str, Any] = json.loads(render(settings)["dashboards/overview.json"])
    return document


def _lint(document: dict[str, Any]) -> list[str]:
    return lint(json.dumps(document))


def _first_panel(document: dict[str, Any]) -> dict[str, Any]:
    panel: dict[str, Any] = next(panel for panel in document["panels"] if panel["type"] != "row")
    return panel


def test_generated_dashboards_pass(tmp_path: Path) -> None:
    """Every generated dashboard passes the structural rules and loads cleanly through the SDK."""
    assert schema_check_status() is None
    files = render(load_settings({}, environ={}, cwd=tmp_path))
    results = {path: lint(text) for path, text in files.items() if path.endswith(".json")}
    assert len(results) == 6
    assert results == {path: [] for path in results}


def test_raw_grafanalib_output_is_rejected() -> None:
    """grafanalib's own JSON fails: legacy keys, schemaVersion 12, Stat thresholds bug, datasource names."""
    board = G.Dashboard(
        title="raw",
        uid="raw",
        panels=[
            G.Stat(
                title="s",
                dataSource="Prometheus",
                targets=[G.Target(expr="up", refId="A")],
                gridPos=G.GridPos(h=4, w=6, x=0, y=0),
            )
        ],
    )
    problems = lint(json.dumps(board.to_json_data(), cls=DashboardEncoder))
    text = "\n".join(problems)
    for expected in (
        "legacy key `rows`",
        "legacy key `style`",
        "`schemaVersion` 12 is legacy",
        "legacy key `span`",
        "thresholds.steps must be a list",
        "datasource must be an object",
        "legacy target key `step`",
    ):
        assert expected in text


def test_unknown_key_is_reported_by_the_schema(overview: dict[str, Any]) -> None:
    """A key Grafana's schema does not have is reported with its path (the SDK would drop it silently)."""
    document = copy.deepcopy(overview)
    _first_panel(document)["bogusOption"] = True
    document["templating"]["list"][0]["typo"] = 1
    problems = _lint(document)
    assert "`panels[1].bogusOption` is not in Grafana's dashboard schema" in problems
    assert "`templating.list[0].typo` is not in Grafana's dashboard schema" in problems


def test_malformed_values_fail_to_load(overview: dict[str, Any]) -> None:
    """A value of the wrong shape is one problem saying the SDK could not load the dashboard."""
    document = copy.deepcopy(overview)
    document["time"] = 5
    problems = _lint(document)
    assert len(problems) == 1 and problems[0].startswith("does not load as a Grafana dashboard")


def test_undefined_variables_are_reported(overview: dict[str, Any]) -> None:
    """A query using a template variable the dashboard does not define is a problem; builtins are fine."""
    document = copy.deepcopy(overview)
    target = _first_panel(document)["targets"][0]
    target["expr"] = 'sum(rate(x{service_name="$service", route="$route"}[$__rate_interval]))'
    assert _lint(document) == ["panel 'Requests' target A: uses `$route`, which is no template variable"]


def test_overlapping_and_out_of_grid_panels_are_reported(overview: dict[str, Any]) -> None:
    """Panels that overlap or leave the 24-column grid are problems."""
    document = copy.deepcopy(overview)
    panels = [panel for panel in document["panels"] if panel["type"] != "row"]
    panels[1]["gridPos"] = dict(panels[0]["gridPos"])
    panels[2]["gridPos"]["x"] = 20
    problems = _lint(document)
    assert "panel 'Errors' overlaps panel 'Requests'" in problems
    assert any(
        problem.startswith("panel 'Latency p95': gridPos 20,1 6x4 falls outside") for problem in problems
    )


def test_ids_refids_and_datasources_are_checked(overview: dict[str, Any]) -> None:
    """Duplicate panel ids and refIds, and datasource uids that nothing defines, are problems."""
    document = copy.deepcopy(overview)
    panels = [panel for panel in document["panels"] if panel["type"] != "row"]
    panels[1]["id"] = panels[0]["id"]
    latency = next(panel for panel in panels if len(panel["targets"]) == 3)
    latency["targets"][1]["refId"] = "A"
    panels[2]["datasource"] = {"type": "prometheus", "uid": "somewhere-else"}
    panels[3]["datasource"] = {"type": "loki", "uid": "${metrics}"}
    problems = "\n".join(_lint(document))
    assert f"id {panels[0]['id']} is also panel 'Requests''s" in problems
    assert "refId A used twice" in problems
    assert "datasource uid `somewhere-else` is neither obs's" in problems
    assert "datasource type `loki` but `$metrics` picks `prometheus` datasources" in problems


def test_not_json() -> None:
    """Text that is not JSON is one problem naming the line."""
    assert lint("{\n  nope") == [
        "not valid JSON (Expecting property name enclosed in double quotes at line 2)"
    ]


def test_without_the_sdk_structural_rules_still_run(tmp_path: Path) -> None:
    """Without grafana-foundation-sdk the schema check is skipped, says so, and the structural rules run."""
    script = """
import json, sys
sys.modules["grafana_foundation_sdk"] = None  # as if it were not installed
from obs.dashboards import lint, schema_check_status
document = {"uid": "x", "title": "x", "schemaVersion": 41, "panels": [], "bogus": 1, "style": "dark"}
print(json.dumps({"status": schema_check_status(), "problems": lint(json.dumps(document))}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    result = json.loads(done.stdout)
    assert result["status"].startswith(
        "Grafana schema check skipped: grafana-foundation-sdk is not installed"
    )
    assert "grafana-foundation-sdk==1769699379!11.6.0" in result["status"]
    assert result["problems"] == ["legacy key `style` (removed from Grafana's schema)"]
