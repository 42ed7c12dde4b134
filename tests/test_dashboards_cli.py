"""`obs dashboards build` and `obs dashboards push`, run as a user runs them, on a generated project."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from obs.agent.settings import load_settings
from obs.dashboards import render

from obs.cli import main
from tests.grafana_api import fake_grafana

TOKEN = "glsa_test_token"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with the dashboards `obs init` would write, and a clean environment."""
    for name in ("OTEL_SERVICE_NAME", "OBS_ENVIRONMENT", "OBS_INSTRUMENTATIONS", "GRAFANA_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "shop"\n\n[tool.obs]\ninstrumentations = ["flask", "requests", "sqlite3"]\n'
    )
    for relative, text in render(load_settings(environ={}, cwd=tmp_path)).items():
        path = tmp_path / "observability" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _json(project: Path, name: str) -> Path:
    return project / "observability" / "dashboards" / f"{name}.json"


def _source(project: Path, name: str) -> Path:
    return project / "observability" / "dashboards" / "src" / f"{name}.py"


def test_build_of_fresh_sources_changes_nothing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Right after generation, every JSON is what its source builds: all reported identical."""
    before = {path: path.read_bytes() for path in (project / "observability" / "dashboards").glob("*.json")}
    assert main(["dashboards", "build"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6 and all(line.startswith("identical") for line in lines)
    assert before == {path: path.read_bytes() for path in before}


def test_an_edited_source_rebuilds_its_json(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Editing a source and building rewrites that dashboard's JSON only; --check then passes."""
    source = _source(project, "runtime")
    source.write_text(source.read_text().replace('"Runtime"', '"Workers"'))
    assert main(["dashboards", "build", str(project)]) == 0
    assert "update     observability/dashboards/runtime.json" in capsys.readouterr().out
    assert json.loads(_json(project, "runtime").read_text())["title"] == "Workers"
    assert main(["dashboards", "build", "--check"]) == 0


def test_check_reports_stale_json_and_writes_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--check fails on a JSON that does not match its source, and leaves it as it is."""
    target = _json(project, "logs")
    target.write_text("{}\n")
    assert main(["dashboards", "build", "--check"]) == 1
    captured = capsys.readouterr()
    assert "outdated   observability/dashboards/logs.json" in captured.out
    assert "1 dashboard JSON file(s) out of date; run `obs dashboards build`" in captured.err
    assert target.read_text() == "{}\n"


def test_a_broken_source_writes_nothing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A source that raises gives one line naming the file and line, and no JSON is touched."""
    source = _source(project, "overview")
    source.write_text(
        source.read_text().replace(
            "    requests = Metric(HTTP_SERVER_DURATION)",
            '    requests = Metric(HTTP_SERVER_DURATION).filtered(Match("http.rout", "=", "/"))',
        )
    )
    _source(project, "runtime").write_text(
        _source(project, "runtime").read_text().replace('"Runtime"', '"X"')
    )
    before = _json(project, "runtime").read_bytes()
    assert main(["dashboards", "build"]) == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error
    line = next(
        number for number, text in enumerate(source.read_text().splitlines(), 1) if '"http.rout"' in text
    )
    assert (
        f"{source}, line {line}: ValueError: `http.rout` is not an attribute of http.server.request.duration"
        in error
    )
    assert error.endswith("(no dashboard was written)")
    assert _json(project, "runtime").read_bytes() == before


def test_sources_can_share_a_helper_module(project: Path) -> None:
    """Files starting with _ are not dashboards, and sources can import them."""
    (_source(project, "_shared")).write_text('TITLE = "Shared title"\n')
    source = _source(project, "traces")
    source.write_text(
        source.read_text().replace('"Traces",', '__import__("_shared").TITLE,')
    )
    assert main(["dashboards", "build"]) == 0
    assert json.loads(_json(project, "traces").read_text())["title"] == "Shared title"
    assert not _json(project, "_shared").exists()


def test_two_sources_with_one_uid_are_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A copied source that keeps its dashboard name would overwrite the original in Grafana: refused."""
    _source(project, "mine").write_text(_source(project, "logs").read_text())
    assert main(["dashboards", "build"]) == 1
    assert "dashboard uid `obs-logs` is also" in capsys.readouterr().err
    assert not _json(project, "mine").exists()


def test_build_without_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder without dashboard sources says how to get them."""
    (tmp_path / "observability" / "dashboards" / "src").mkdir(parents=True)
    assert main(["dashboards", "build", str(tmp_path / "observability")]) == 1
    assert "no dashboard sources in" in capsys.readouterr().err


def test_push_uploads_into_a_folder_idempotently(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Push creates the folder once and saves each dashboard by uid; pushing again overwrites only."""
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    with fake_grafana(TOKEN) as grafana:
        assert main(["dashboards", "push", "--url", grafana.url]) == 0
        first = capsys.readouterr().out.splitlines()
        assert main(["dashboards", "push", "--url", grafana.url + "/"]) == 0
    assert (
        len(first) == 6
        and f"pushed     Service overview -> {grafana.url}/d/obs-overview/service-overview" in first
    )
    assert list(grafana.folders) == ["obs"]
    assert sorted(grafana.dashboards) == [
        "obs-dependencies",
        "obs-errors",
        "obs-logs",
        "obs-overview",
        "obs-runtime",
        "obs-traces",
    ]
    saved = grafana.dashboards["obs-overview"]
    assert saved["meta"]["folderUid"] == "obs"
    assert saved["dashboard"]["version"] == 2
    assert saved["dashboard"]["panels"] == json.loads(_json(project, "overview").read_text())["panels"]
    assert grafana.requests.count(("POST", "/api/folders")) == 1


def test_push_with_a_wrong_token(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token Grafana refuses is one line naming the variable to fix; nothing is saved."""
    monkeypatch.setenv("MY_TOKEN", "wrong")
    with fake_grafana(TOKEN) as grafana:
        assert main(["dashboards", "push", "--url", grafana.url, "--token-env", "MY_TOKEN"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"obs: GrafanaError: Grafana at {grafana.url} refused the credentials (401); set MY_TOKEN to a valid "
        "service account token"
    )
    assert not grafana.dashboards


def test_push_to_nothing(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A URL where nothing listens is one line saying so."""
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    assert main(["dashboards", "push", "--url", url]) == 1
    assert capsys.readouterr().err.strip() == (
        f"obs: GrafanaError: cannot reach Grafana at {url} (connection refused); "
        "check --url and that Grafana is running"
    )


def test_push_needs_a_token_and_a_url(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without a token, or with a URL that is not http(s), push stops before any request."""
    assert main(["dashboards", "push", "--url", "http://127.0.0.1:3000"]) == 2
    assert "set GRAFANA_TOKEN to a Grafana service account token" in capsys.readouterr().err
    assert main(["dashboards", "push", "--url", "localhost:3000"]) == 2
    assert "must start with http:// or https://" in capsys.readouterr().err


def test_push_without_grafana_client(project: Path) -> None:
    """Without the optional grafana-client package, push says which extra to install."""
    script = (
        "import sys; sys.modules['grafana_client'] = None; from obs.cli import main; "
        "sys.exit(main(['dashboards', 'push', '--url', 'http://127.0.0.1:3000']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=project,
        env={"PATH": "/usr/bin:/bin", "GRAFANA_TOKEN": TOKEN},
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "obs: UsageError: `obs dashboards push` needs the grafana-client package: "
        "pip install 'obs-bootstrap[grafana]'"
    )
