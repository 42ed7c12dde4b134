"""Which instrumentations the agent turns on, found through the `opentelemetry_instrumentor` entry points.

Discovery reads entry_points.txt files (fake distributions in ``tmp_path``, and the real ones of this
environment); the last tests run a child process to see what is actually instrumented.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from obs.agent._instrument import OBS_COVERS, Candidate, discover, instrument_kwargs, select
from obs.agent.settings import load_settings

from tests.agent_run import clean_environment, python


def _dist(folder: Path, name: str, entry_points: str) -> None:
    info = folder / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "entry_points.txt").write_text(entry_points)


def test_discover_reads_only_the_instrumentor_group(tmp_path: Path) -> None:
    """Only `[opentelemetry_instrumentor]` entries count; other groups and comments are ignored."""
    _dist(tmp_path, "otel_inst_shop", (
        "[console_scripts]\nshop = shop:main\n\n"
        "[opentelemetry_instrumentor]\n# a comment\nshop = otel_inst_shop:ShopInstrumentor\n"
        "aiohttp-client = otel_inst_shop:ClientInstrumentor\n"
    ))
    _dist(tmp_path, "unrelated", "[console_scripts]\nx = y:z\n")
    found = discover([str(tmp_path)])
    assert sorted(found) == ["aiohttp-client", "shop"]
    assert found["shop"].target == "otel_inst_shop:ShopInstrumentor"
    assert found["shop"].trigger == "shop"
    assert found["aiohttp-client"].trigger == "aiohttp", "the library's module, not the entry point's name"


def test_first_distribution_on_the_path_wins(tmp_path: Path) -> None:
    """Two distributions with the same entry point name: the one earlier on sys.path is used."""
    _dist(tmp_path / "first", "a", "[opentelemetry_instrumentor]\nflask = first:Flask\n")
    _dist(tmp_path / "second", "b", "[opentelemetry_instrumentor]\nflask = second:Flask\n")
    found = discover([str(tmp_path / "first"), str(tmp_path / "second"), str(tmp_path / "missing")])
    assert found["flask"].target == "first:Flask"


def test_installed_instrumentations_are_found() -> None:
    """In this environment (the examples' extras), the example apps' libraries are covered, and urllib's
    instrumentation waits for urllib.request (urllib itself is imported by nearly everything)."""
    found = discover()
    assert {"flask", "fastapi", "requests", "httpx", "sqlite3", "urllib"} <= set(found)
    assert found["urllib"].trigger == "urllib.request"


def _installed() -> dict[str, Candidate]:
    return {name: Candidate(name, f"x:{name}", "/nowhere") for name in ("flask", "requests", "logging",
                                                                          "sqlite3", "system_metrics")}


def test_select_all_but_what_obs_covers_and_the_disabled(tmp_path: Path) -> None:
    """With no list in the settings: every installed one but logging and system_metrics (obs does their
    job), minus OTEL_PYTHON_DISABLED_INSTRUMENTATIONS."""
    settings = load_settings(environ={"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "requests"}, cwd=tmp_path)
    chosen = [candidate.name for candidate in select(settings, _installed())]
    assert chosen == ["flask", "sqlite3"]
    assert {"logging", "system_metrics"} == OBS_COVERS


def test_select_the_listed_ones_and_say_which_are_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a list (as `obs init` writes it): exactly those, logging too if asked; the ones not installed
    are named in one line with the packages to install."""
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.obs]\ninstrumentations = ["requests", "logging", "redis"]\n'
    )
    settings = load_settings(environ={}, cwd=tmp_path)
    chosen = [candidate.name for candidate in select(settings, _installed())]
    assert chosen == ["requests", "logging"]
    err = capsys.readouterr().err
    assert "redis" in err and "opentelemetry-instrumentation-redis" in err


@pytest.mark.parametrize(("variables", "wrapped"), [
    ({}, "FunctionWrapper"),
    ({"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "sqlite3"}, "builtin_function_or_method"),
    ({"OBS_INSTRUMENTATIONS": "requests"}, "builtin_function_or_method"),
])
def test_what_the_app_gets(tmp_path: Path, variables: dict[str, str], wrapped: str) -> None:
    """In the app's process: sqlite3 is instrumented when it is imported, unless disabled or not listed."""
    code = "import sqlite3\nprint(type(sqlite3.connect).__name__)"
    ran = python(code, clean_environment({"OTEL_TRACES_EXPORTER": "none", **variables}), tmp_path)
    assert ran.stdout.strip() == wrapped, ran.stderr


def test_instrumentation_spans_use_the_stable_conventions(tmp_path: Path) -> None:
    """A database call made through an instrumented library gives a CLIENT span with the stable database
    attributes (OTEL_SEMCONV_STABILITY_OPT_IN set by the agent), here written to the console exporter."""
    code = (
        "import os, sqlite3\nfrom opentelemetry import trace\n"
        "with trace.get_tracer('t').start_as_current_span('parent'):\n"
        "    sqlite3.connect(':memory:').cursor().execute('select 1')\n"
        "print('OPT_IN', os.environ['OTEL_SEMCONV_STABILITY_OPT_IN'])\n"
    )
    env = clean_environment({"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none",
                             "OTEL_LOGS_EXPORTER": "none"})
    ran = python(code, env, tmp_path)
    assert "OPT_IN http,database" in ran.stdout
    assert '"db.system.name"' in ran.stdout and '"kind":3' in ran.stdout, ran.stdout[-2000:]


def test_asgi_requests_make_one_server_span(tmp_path: Path) -> None:
    """A FastAPI request gives exactly one span, the SERVER span with its templated route: the ASGI
    ``send``/``receive`` spans are excluded (KWARGS), as this instrumentor version accepts them."""
    code = (
        "import asyncio, fastapi, sys\n"
        "app = fastapi.FastAPI()\n"
        "@app.get('/items/{item}')\n"
        "def item(item: str) -> dict:\n    return {'item': item}\n"
        "scope = {'type': 'http', 'asgi': {'version': '3.0'}, 'http_version': '1.1', 'method': 'GET',\n"
        "         'scheme': 'http', 'path': '/items/7', 'raw_path': b'/items/7', 'query_string': b'',\n"
        "         'headers': [(b'host', b'x')], 'server': ('x', 80), 'client': ('c', 1), 'root_path': ''}\n"
        "async def receive():\n    return {'type': 'http.request', 'body': b'', 'more_body': False}\n"
        "sent = []\n"
        "async def send(message):\n    sent.append(message)\n"
        "asyncio.run(app(scope, receive, send))\n"
        "print('STATUS', sent[0]['status'], file=sys.stderr)\n"
    )
    env = clean_environment({"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none",
                             "OTEL_LOGS_EXPORTER": "none"})
    ran = python(code, env, tmp_path)
    assert "STATUS 200" in ran.stderr, ran.stderr[-2000:]
    spans = [line for line in ran.stdout.splitlines() if line.startswith("{")]
    names = [json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"] for line in spans]
    flat = [span for batch in names for span in batch]
    assert [(span["name"], span["kind"]) for span in flat] == [("GET /items/{item}", 2)], ran.stdout[-2000:]


def test_extra_arguments_only_where_the_instrumentor_takes_them() -> None:
    """``exclude_spans`` goes to FastAPI's instrumentor (its instrument_app takes it), nothing to Flask's."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    assert instrument_kwargs("fastapi", FastAPIInstrumentor) == {"exclude_spans": ["send", "receive"]}
    assert instrument_kwargs("flask", FlaskInstrumentor) == {}

