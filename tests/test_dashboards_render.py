"""obs.dashboards.render: the dashboards' files, their conventions, and their derivation from the catalog."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from obs.agent.catalog import CATALOG, DATASOURCE_UIDS, PROMOTED_RESOURCE_ATTRIBUTES, Kind, label
from obs.agent.settings import Settings, load_settings
from obs.dashboards import NAMES, DashboardSourceError, build, build_source, queries, render, shipped_sources
from obs.dashboards.promql import STATUS_CLASS

_SERIES = {
    instrument.series(suffix)
    for instrument in CATALOG
    for suffix in (("bucket", "count", "sum") if instrument.kind is Kind.HISTOGRAM else ("",))
}
_LABELS = (
    {label(name) for instrument in CATALOG for name in instrument.attributes}
    | {label(name) for name in PROMOTED_RESOURCE_ATTRIBUTES}
    | {"le", STATUS_CLASS}
)
_PROMQL_WORDS = {"by", "sum", "rate", "histogram_quantile", "label_replace", "max", "avg"}


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(
        {"service_name": "shop", "environment": "staging", **overrides}, environ={}, cwd=tmp_path
    )


def _dashboards(files: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {
        Path(path).stem: json.loads(text)
        for path, text in files.items()
        if path.startswith("dashboards/") and path.endswith(".json")
    }


def _walk(node: Any) -> Any:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_render_gives_each_dashboard_as_source_and_json(tmp_path: Path) -> None:
    """With no instrumentations configured every dashboard is rendered, as editable source and as JSON, but
    Tasks: it needs Celery named among the instrumentations."""
    files = render(_settings(tmp_path))
    names = [name for name in NAMES if name != "tasks"]
    assert set(files) == {f"dashboards/src/{name}.py" for name in names} | {
        f"dashboards/{name}.json" for name in names
    }
    package = resources.files("obs.dashboards.sources")
    for name in names:
        assert files[f"dashboards/src/{name}.py"] == package.joinpath(f"{name}.py").read_text(
            encoding="utf-8"
        )


def test_tasks_dashboard_is_rendered_when_celery_is_among_the_instrumentations(tmp_path: Path) -> None:
    """Celery among the instrumentations gives the Tasks dashboard, whose queries read the catalog's task
    series: runs (failures and retries among them), run time and queue wait."""
    files = render(_settings(tmp_path, instrumentations=["flask", "celery"]))
    tasks = json.loads(files["dashboards/tasks.json"])
    text = json.dumps(tasks)
    for series in ("celery_task_runs_total", "celery_task_duration_seconds_bucket",
                   "celery_task_queue_wait_seconds_bucket", 'celery_task_outcome=\\"failure\\"',
                   'celery_task_outcome=\\"retry\\"'):
        assert series in text, series


def test_output_is_deterministic_and_canonical(tmp_path: Path) -> None:
    """Rendering twice gives the same bytes; JSON has sorted keys, 2-space indent and a trailing newline."""
    first, second = render(_settings(tmp_path)), render(_settings(tmp_path))
    assert first == second
    for path, text in first.items():
        if path.endswith(".json"):
            assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_json_is_modern_and_clean(tmp_path: Path) -> None:
    """No nulls, no grafanalib legacy keys, schemaVersion 41, a stable uid and the obs tag everywhere."""
    for name, document in _dashboards(render(_settings(tmp_path))).items():
        assert document["schemaVersion"] == 41
        assert document["uid"] == f"obs-{name}"
        assert document["tags"] == ["obs"]
        assert not {"rows", "style", "hideControls", "sharedCrosshair", "__inputs", "id"} & set(document)
        for node in _walk(document):
            assert node is not None, f"{name} has a null"
            if isinstance(node, dict):
                assert not {"span", "height", "minSpan", "error", "intervalFactor"} & set(node), name
        for panel in document["panels"]:
            steps = panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps", [])
            assert isinstance(steps, list)


def test_dashboards_link_to_each_other(tmp_path: Path) -> None:
    """Each dashboard links to all obs dashboards by tag, and panel links open dashboards that exist."""
    dashboards = _dashboards(render(_settings(tmp_path)))
    uids = {document["uid"] for document in dashboards.values()}
    for document in dashboards.values():
        assert document["links"] == [
            {
                "asDropdown": False,
                "icon": "dashboard",
                "includeVars": True,
                "keepTime": True,
                "tags": ["obs"],
                "targetBlank": False,
                "title": "obs dashboards",
                "tooltip": "",
                "type": "dashboards",
                "url": "",
            }
        ]
        for panel in document["panels"]:
            for link in panel.get("links", []):
                target = re.match(r"/d/([\w-]+)\?", link["url"])
                assert target and target.group(1) in uids, link
    overview_links = [link for panel in dashboards["overview"]["panels"] for link in panel.get("links", [])]
    assert {re.match(r"/d/([\w-]+)", link["url"]).group(1) for link in overview_links} == {  # type: ignore[union-attr]
        "obs-errors",
        "obs-logs",
        "obs-traces",
        "obs-runtime",
    }


def test_variables_default_to_the_project_and_its_datasources(tmp_path: Path) -> None:
    """Datasource variables default to the provisioned uids; service and environment to the settings."""
    dashboards = _dashboards(render(_settings(tmp_path)))
    for name, document in dashboards.items():
        variables = {variable["name"]: variable for variable in document["templating"]["list"]}
        assert variables["metrics"]["current"]["value"] == DATASOURCE_UIDS["metrics"]
        assert variables["service"]["current"]["value"] == "shop"
        assert variables["environment"]["current"]["value"] == "staging"
        assert variables["instance"]["current"]["value"] == "$__all"
        assert variables["instance"]["allValue"] == ".*"
        signals = {"logs": "logs", "traces": "traces"}.get(name)
        if signals:
            assert variables[signals]["current"]["value"] == DATASOURCE_UIDS[signals]
        for panel in document["panels"]:
            if panel["type"] != "row":
                assert re.fullmatch(r"\$\{(metrics|logs|traces)\}", panel["datasource"]["uid"]), panel[
                    "title"
                ]


def test_every_promql_series_and_label_comes_from_the_catalog(tmp_path: Path) -> None:
    """Series names in every PromQL query are catalog series; every label is a catalog attribute's label."""
    seen: set[str] = set()
    for document in _dashboards(render(_settings(tmp_path))).values():
        for query in queries(document):
            if query.language != "promql":
                continue
            names = set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", query.text))
            assert names <= _SERIES, query
            seen |= names
            labels = set(re.findall(r"([a-zA-Z_]\w*)(?:=~|!~|!=|=)\"", query.text))
            for grouping in re.findall(r"by \(([^)]*)\)", query.text):
                labels |= {part.strip() for part in grouping.split(",")}
            labels |= set(re.findall(r"label_values\((?:\{[^}]*\}, )?(\w+)\)", query.text))
            for pattern in re.findall(r'__name__=~"([^"]*)"', query.text):
                assert set(pattern.split("|")) <= _SERIES, query  # "the app sends anything": catalog series
                labels.discard("__name__")
            assert labels <= _LABELS, query
            assert not (labels & _PROMQL_WORDS)
    assert {"http_server_request_duration_seconds_bucket", "process_cpu_time_seconds_total"} <= seen


@pytest.mark.parametrize(
    ("instrumentations", "expected"),
    [
        ((), {"http_client_request_duration_seconds_count", "db_client_operation_duration_seconds_count"}),
        (("flask", "requests"), {"http_client_request_duration_seconds_count"}),
        (("fastapi", "sqlite3"), {"db_client_operation_duration_seconds_count"}),
        (
            ("flask", "httpx", "sqlalchemy"),
            {"http_client_request_duration_seconds_count", "db_client_operation_duration_seconds_count"},
        ),
    ],
)
def test_dependency_panels_follow_the_instrumentations(
    tmp_path: Path, instrumentations: tuple[str, ...], expected: set[str]
) -> None:
    """Dependency rows appear only for the instrumentations configured (all when none is)."""
    document = _dashboards(render(_settings(tmp_path, instrumentations=list(instrumentations))))[
        "dependencies"
    ]
    counted = {name for query in queries(document) for name in re.findall(r"(\w+_count)\{", query.text)}
    assert counted == expected


def test_no_dependencies_dashboard_without_client_or_database(tmp_path: Path) -> None:
    """An app with neither HTTP client nor database instrumentation gets no Dependencies dashboard at all."""
    files = render(_settings(tmp_path, instrumentations=["flask", "logging"]))
    assert "dashboards/dependencies.json" not in files
    assert "dashboards/src/dependencies.py" not in files
    assert "dashboards/overview.json" in files


def test_rendered_sources_rebuild_to_the_rendered_json(tmp_path: Path) -> None:
    """Building the rendered sources gives byte-identical JSON: obs init and obs dashboards build agree."""
    settings = _settings(tmp_path)
    files = render(settings)
    sources = {Path(path).name: text for path, text in files.items() if path.startswith("dashboards/src/")}
    rebuilt = build(sources, settings)
    assert {f"dashboards/{name}.json": text for name, text in rebuilt.items()} == {
        path: text for path, text in files.items() if path.endswith(".json")
    }


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "def dashboard(settings):\n    return [\n",
            "mine.py, line 2: invalid Python ('[' was never closed)",
        ),
        ("TITLE = 'x'\n", "mine.py: defines no `dashboard(settings)` function; add one"),
        (
            "def dashboard(settings):\n    return {}\n",
            "mine.py: dashboard() returned dict; return a grafanalib.core.Dashboard or None",
        ),
        (
            "def dashboard(settings):\n    return 1 / 0\n",
            "mine.py, line 2: ZeroDivisionError: division by zero",
        ),
    ],
)
def test_a_broken_source_is_one_line(tmp_path: Path, source: str, message: str) -> None:
    """Whatever is wrong with a source comes back as one DashboardSourceError line naming file and line."""
    with pytest.raises(DashboardSourceError) as raised:
        build_source(source, "mine.py", _settings(tmp_path))
    assert str(raised.value) == message


def test_sources_may_define_dataclasses(tmp_path: Path) -> None:
    """A source runs as a module, so what needs sys.modules (a dataclass) works in it."""
    source = shipped_sources()["logs.py"].replace(
        "def dashboard(",
        "@__import__('dataclasses').dataclass\nclass Options:\n    width: int = 24\n\n\ndef dashboard(",
    )
    assert (
        build_source(source, "logs.py", _settings(tmp_path))
        == render(_settings(tmp_path))["dashboards/logs.json"]
    )
