"""`obs init` end to end, through the real command line, on copies of the fixture projects."""

from __future__ import annotations

import difflib
import io
import json
import socket
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from obs.agent.settings import load_settings

from obs.cli import main
from obs.init.manifest import FILENAME as MANIFEST
from obs.init.plan import render_observability
from tests.init_helpers import copy_fixture, obs_init, snapshot, without_dac_override

FIXTURES = ("flask_shop", "fastapi_poetry", "django_setuppy")
RELEASE = metadata.version("opentelemetry-instrumentation")


def _initialised(name: str, tmp_path: Path, *args: str) -> Path:
    root = copy_fixture(name, tmp_path)
    result = obs_init(root, "--yes", *args)
    assert result.returncode == 0, result.stderr
    return root


def _only_insertions(before: str, after: str) -> bool:
    """True when ``after`` is ``before`` with lines inserted: every original line, comment and blank kept."""
    matcher = difflib.SequenceMatcher(None, before.splitlines(), after.splitlines(), autojunk=False)
    return all(tag in ("equal", "insert") for tag, *_ in matcher.get_opcodes())


def _assert_one_line_error(result: object, *needles: str) -> None:
    stderr = result.stderr.strip()  # type: ignore[attr-defined]
    assert result.returncode != 0  # type: ignore[attr-defined]
    assert len(stderr.splitlines()) == 1, stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in stderr


def test_first_run_writes_settings_packages_and_stack(tmp_path: Path) -> None:
    """A pyproject Flask app gets [tool.obs], pinned packages in [project] and the whole stack folder."""
    root = copy_fixture("flask_shop", tmp_path)
    result = obs_init(root, "--yes")
    assert result.returncode == 0, result.stderr
    document = tomllib.loads((root / "pyproject.toml").read_text())
    table = document["tool"]["obs"]
    assert table["service_name"] == "flask-shop"
    assert table["instrumentations"] == ["flask", "requests", "sqlalchemy"]
    dependencies = document["project"]["dependencies"]
    for name in ("flask", "requests", "sqlalchemy"):
        assert f"opentelemetry-instrumentation-{name}=={RELEASE}" in dependencies
    # The tests run obs from this checkout (an editable install): no index serves it, so it is not pinned.
    assert not any(item.startswith("obs-bootstrap") for item in dependencies)
    assert "note       obs-bootstrap is not pinned: it was installed from " in result.stdout
    assert not any("tortoiseorm" in item or "httpx" in item for item in dependencies)
    assert "tortoiseorm" not in result.stdout
    on_disk = {p.relative_to(root / "observability").as_posix() for p in (root / "observability").rglob("*")
               if p.is_file()}
    settings = load_settings(environ={}, cwd=root)
    assert on_disk == {*render_observability(settings), MANIFEST}
    assert not (root / "obs.toml").exists()


def test_output_says_what_was_found_why_and_what_next(tmp_path: Path) -> None:
    """The report names each instrumentation with its file:line evidence, then the next steps."""
    root = copy_fixture("flask_shop", tmp_path)
    out = obs_init(root, "--yes").stdout
    line = next(n for n, text in enumerate((root / "pyproject.toml").read_text().splitlines(), 1)
                if '"requests>=2.31"' in text)
    assert f"pyproject.toml:{line} declares requests>=2.31" in out
    assert "src/shop/shipping.py:3 imports requests" in out
    assert "only in [project.optional-dependencies] dev" in out
    assert "obs run -- gunicorn shop:app" in out
    assert "obs up" in out and "obs view" in out
    assert "create     observability/compose.yaml" in out


@pytest.mark.parametrize("fixture", FIXTURES)
def test_second_run_writes_nothing(fixture: str, tmp_path: Path) -> None:
    """Run twice: the second run reports every file identical and rewrites none (bytes and mtimes)."""
    root = _initialised(fixture, tmp_path)
    before = snapshot(root)
    again = obs_init(root)  # no --yes and no terminal: fine, since nothing needs writing
    assert again.returncode == 0, again.stderr
    assert snapshot(root) == before
    assert "Nothing to write" in again.stdout
    file_lines = [line for line in again.stdout.splitlines() if line.startswith("  ") and "/" in line]
    generated = [line for line in file_lines if "observability/" in line]
    assert generated and all(line.split()[0] == "identical" for line in generated)


def test_user_edit_survives_and_is_named(tmp_path: Path) -> None:
    """A generated file the user changed is left alone and reported as a conflict; --force replaces it."""
    root = _initialised("fastapi_poetry", tmp_path)
    compose = root / "observability" / "compose.yaml"
    dashboard = root / "observability" / "dashboards" / "overview.json"
    original = compose.read_text()
    edited = original.replace("127.0.0.1:3000:3000", "127.0.0.1:3300:3000")
    assert edited != original
    compose.write_text(edited)
    panels = json.loads(dashboard.read_text())
    panels["title"] = "My overview"
    dashboard.write_text(json.dumps(panels))
    before = snapshot(root)
    result = obs_init(root, "--yes")
    assert result.returncode == 0, result.stderr
    assert snapshot(root) == before
    assert "conflict   observability/compose.yaml" in result.stdout
    assert "conflict   observability/dashboards/overview.json" in result.stdout
    assert "--force" in result.stdout
    forced = obs_init(root, "--yes", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "overwrite  observability/compose.yaml" in forced.stdout
    assert compose.read_text() == original
    assert json.loads(dashboard.read_text())["title"] != "My overview"


def test_user_settings_are_kept_and_reported(tmp_path: Path) -> None:
    """Values the user changed in [tool.obs] stay (named as conflicts), their own keys too; --force resets."""
    root = _initialised("flask_shop", tmp_path)
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    text = text.replace('environment = "development"', 'environment = "staging"  # ours')
    text = text.replace('"flask", "requests", "sqlalchemy"]', '"flask", "sqlalchemy"]')
    text += 'traces_sampler = "parentbased_traceidratio"\n'
    pyproject.write_text(text)
    result = obs_init(root, "--yes")
    assert result.returncode == 0, result.stderr
    assert pyproject.read_text() == text
    assert "[tool.obs] environment = 'staging' kept" in result.stdout
    assert "[tool.obs] instrumentations = ['flask', 'sqlalchemy'] kept" in result.stdout
    forced = obs_init(root, "--yes", "--force")
    assert forced.returncode == 0, forced.stderr
    table = tomllib.loads(pyproject.read_text())["tool"]["obs"]
    assert table["environment"] == "development"
    assert table["instrumentations"] == ["flask", "requests", "sqlalchemy"]
    assert table["traces_sampler"] == "parentbased_traceidratio"


@pytest.mark.parametrize("fixture", FIXTURES)
def test_dry_run_writes_nothing(fixture: str, tmp_path: Path) -> None:
    """--dry-run goes through detection, rendering and comparison, and leaves every file as it was."""
    root = copy_fixture(fixture, tmp_path)
    before = snapshot(root)
    result = obs_init(root, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert snapshot(root) == before
    assert "create     observability/compose.yaml" in result.stdout
    assert "Dry run: nothing written" in result.stdout


def test_broken_pyproject_is_refused_with_nothing_written(tmp_path: Path) -> None:
    """A pyproject.toml that is not TOML: one line naming it, exit 1, no traceback, no file written."""
    root = copy_fixture("flask_shop", tmp_path)
    (root / "pyproject.toml").write_text('[project]\nname = "shop\ndependencies = ["flask"]\n')
    before = snapshot(root)
    result = obs_init(root, "--yes")
    _assert_one_line_error(result, "pyproject.toml", "not valid TOML")
    assert result.returncode == 1
    assert snapshot(root) == before


def test_bad_setting_in_tool_obs_is_refused_with_nothing_written(tmp_path: Path) -> None:
    """An unknown key in an existing [tool.obs] is named with the file, before anything is written."""
    root = copy_fixture("flask_shop", tmp_path)
    with (root / "pyproject.toml").open("a") as stream:
        stream.write('\n[tool.obs]\nservice_nmae = "typo"\n')
    before = snapshot(root)
    result = obs_init(root, "--yes")
    _assert_one_line_error(result, "service_nmae", "pyproject.toml")
    assert snapshot(root) == before


def test_not_a_project_missing_path_and_unknown_option(tmp_path: Path) -> None:
    """Each is one clear line and a non-zero exit, with nothing created."""
    empty = tmp_path / "empty"
    empty.mkdir()
    _assert_one_line_error(obs_init(empty, "--yes"), "not a Python project")
    _assert_one_line_error(obs_init(tmp_path / "missing", "--yes"), "does not exist")
    unknown = obs_init(empty, "--frobnicate")
    _assert_one_line_error(unknown, "--frobnicate")
    assert unknown.returncode == 2
    assert list(empty.iterdir()) == []


def test_unwritable_target_is_refused_with_nothing_written(tmp_path: Path) -> None:
    """When the stack folder cannot be created, even pyproject.toml is left untouched."""
    root = copy_fixture("flask_shop", tmp_path)
    (root / "observability").write_text("not a folder\n")
    before = snapshot(root)
    result = obs_init(root, "--yes")
    _assert_one_line_error(result, "observability")
    assert snapshot(root) == before


def test_unwritable_project_folder_is_refused_with_nothing_written(tmp_path: Path) -> None:
    """A project folder the user may not write to: one line naming it, before any file is touched.

    As root the command runs without CAP_DAC_OVERRIDE (:func:`without_dac_override`), so the mode bits bind.
    """
    prefix = without_dac_override()
    base = tmp_path
    try:
        root = copy_fixture("flask_shop", base)
        for path in (root, *root.rglob("*")):
            path.chmod(0o555 if path.is_dir() else 0o444)
        before = snapshot(root)
        result = obs_init(root, "--yes", prefix=prefix)
        _assert_one_line_error(result, str(root))
        assert "read-only" in result.stderr or "permission denied" in result.stderr
        assert snapshot(root) == before
    finally:
        for path in (base, *base.rglob("*")):
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_without_terminal_and_without_yes_it_refuses(tmp_path: Path) -> None:
    """No TTY to ask in and no --yes: one line saying to pass --yes, and nothing written."""
    root = copy_fixture("flask_shop", tmp_path)
    before = snapshot(root)
    result = obs_init(root)
    _assert_one_line_error(result, "--yes")
    assert snapshot(root) == before


def test_setup_py_project_gets_obs_toml_and_the_install_command(tmp_path: Path) -> None:
    """setup.py projects: obs.toml (never a pyproject.toml), requirements.txt pinned, exact pip command."""
    root = copy_fixture("django_setuppy", tmp_path)
    setup_py = (root / "setup.py").read_bytes()
    requirements = (root / "requirements.txt").read_text()
    result = obs_init(root, "--yes")
    assert result.returncode == 0, result.stderr
    assert not (root / "pyproject.toml").exists()
    assert (root / "setup.py").read_bytes() == setup_py
    table = tomllib.loads((root / "obs.toml").read_text())
    assert table["service_name"] == "bookshop-orders"
    assert table["instrumentations"] == ["celery", "django", "redis"]
    assert load_settings(environ={}, cwd=root).instrumentations == ("celery", "django", "redis")
    edited = (root / "requirements.txt").read_text()
    assert edited.startswith(requirements) and _only_insertions(requirements, edited)
    pip_line = next(line for line in result.stdout.splitlines() if "pip install opentelemetry-" in line)
    wanted = [f"opentelemetry-instrumentation-{name}=={RELEASE}" for name in table["instrumentations"]]
    command = pip_line[pip_line.index("pip install"):].split()
    assert command[2:] == wanted
    for requirement in wanted:
        assert requirement in edited.splitlines()


@pytest.mark.parametrize(("fixture", "edited"), [
    ("flask_shop", "pyproject.toml"),
    ("fastapi_poetry", "pyproject.toml"),
    ("django_setuppy", "requirements.txt"),
])
def test_edited_files_keep_comments_and_formatting(fixture: str, edited: str, tmp_path: Path) -> None:
    """pyproject.toml and requirements.txt only gain lines: comments, order and blank lines are kept."""
    root = copy_fixture(fixture, tmp_path)
    before = (root / edited).read_text()
    assert "#" in before
    _initialised_result = obs_init(root, "--yes")
    assert _initialised_result.returncode == 0, _initialised_result.stderr
    assert _only_insertions(before, (root / edited).read_text())


def test_poetry_dependencies_are_pinned_in_poetry_table(tmp_path: Path) -> None:
    """A Poetry project gets exact pins in [tool.poetry.dependencies], not a [project] table."""
    root = _initialised("fastapi_poetry", tmp_path)
    document = tomllib.loads((root / "pyproject.toml").read_text())
    assert "project" not in document
    dependencies = document["tool"]["poetry"]["dependencies"]
    for name in ("fastapi", "redis", "psycopg2"):
        assert dependencies[f"opentelemetry-instrumentation-{name}"] == f"=={RELEASE}"
    assert "opentelemetry-instrumentation-sqlalchemy" not in dependencies  # served by its driver's
    assert document["tool"]["obs"]["instrumentations"] == ["fastapi", "psycopg2", "redis"]


def test_declared_package_with_other_version_is_kept(tmp_path: Path) -> None:
    """A pin the project already chose is the project's: reported as a conflict, replaced only by --force."""
    root = copy_fixture("flask_shop", tmp_path)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        '"gunicorn>=22.0",', '"gunicorn>=22.0",\n    "opentelemetry-instrumentation-flask==0.60b0",'))
    result = obs_init(root, "--yes")
    assert result.returncode == 0, result.stderr
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    assert "opentelemetry-instrumentation-flask==0.60b0" in dependencies
    assert "opentelemetry-instrumentation-flask==0.60b0 kept" in result.stdout
    assert obs_init(root, "--yes", "--force").returncode == 0
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    assert f"opentelemetry-instrumentation-flask=={RELEASE}" in dependencies
    assert "opentelemetry-instrumentation-flask==0.60b0" not in dependencies


def test_service_name_and_dir_options(tmp_path: Path) -> None:
    """--service-name names the service everywhere; --dir puts the stack elsewhere and next steps say so."""
    root = copy_fixture("flask_shop", tmp_path)
    result = obs_init(root, "--yes", "--service-name", "checkout", "--dir", "ops/stack")
    assert result.returncode == 0, result.stderr
    assert tomllib.loads((root / "pyproject.toml").read_text())["tool"]["obs"]["service_name"] == "checkout"
    assert "name: obs-checkout" in (root / "ops/stack/compose.yaml").read_text()
    assert not (root / "observability").exists()
    assert "obs up ops/stack" in result.stdout
    renamed = obs_init(root, "--yes", "--service-name", "payments", "--dir", "ops/stack")
    assert renamed.returncode == 0, renamed.stderr
    assert tomllib.loads((root / "pyproject.toml").read_text())["tool"]["obs"]["service_name"] == "payments"
    assert "name: obs-payments" in (root / "ops/stack/compose.yaml").read_text()


def test_requirements_only_project(tmp_path: Path) -> None:
    """A pip-compiled project without pyproject.toml: obs.toml, pins appended to requirements.txt."""
    root = _initialised("aiohttp_compiled", tmp_path)
    assert not (root / "pyproject.toml").exists()
    lines = (root / "requirements.txt").read_text().splitlines()
    assert f"opentelemetry-instrumentation-aiohttp-server=={RELEASE}" in lines
    assert not any("urllib3==" + RELEASE in line or "tortoiseorm" in line for line in lines)
    settings = load_settings(environ={}, cwd=root)
    assert settings.config_file == root / "obs.toml"


def test_values_obs_wrote_follow_the_project(tmp_path: Path) -> None:
    """A new dependency updates the instrumentations and pins obs wrote (no conflict: the user never
    changed them), while a value the user set stays and the generated files follow it."""
    root = _initialised("flask_shop", tmp_path)
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text().replace('"gunicorn>=22.0",', '"gunicorn>=22.0",\n    "redis>=5",')
    pyproject.write_text(text.replace('service_name = "flask-shop"', 'service_name = "storefront"'))
    (root / "src/shop/cache.py").write_text("import redis\n\nclient = redis.Redis()\n")
    compose = root / "observability/compose.yaml"
    assert "name: obs-flask-shop" in compose.read_text()
    result = obs_init(root, "--yes")
    assert result.returncode == 0, result.stderr
    document = tomllib.loads(pyproject.read_text())
    assert document["tool"]["obs"]["instrumentations"] == ["flask", "redis", "requests", "sqlalchemy"]
    assert f"opentelemetry-instrumentation-redis=={RELEASE}" in document["project"]["dependencies"]
    assert document["tool"]["obs"]["service_name"] == "storefront"
    assert "[tool.obs] service_name = 'storefront' kept" in result.stdout
    assert "name: obs-storefront" in compose.read_text()
    assert "update     observability/compose.yaml  (you had not changed it" in result.stdout
    assert "instrumentations = " not in result.stdout.split("Files:")[1]


def test_pins_obs_wrote_move_to_the_new_release(tmp_path: Path) -> None:
    """A pin still as an older obs wrote it (per the manifest) is moved to this release, not a conflict."""
    root = _initialised("flask_shop", tmp_path)
    pyproject = root / "pyproject.toml"
    manifest = root / "observability" / MANIFEST
    old = f"opentelemetry-instrumentation-flask=={RELEASE}"
    pyproject.write_text(pyproject.read_text().replace(old, "opentelemetry-instrumentation-flask==0.60b0"))
    record = json.loads(manifest.read_text())
    record["packages"]["opentelemetry-instrumentation-flask"] = "opentelemetry-instrumentation-flask==0.60b0"
    manifest.write_text(json.dumps(record))
    result = obs_init(root, "--yes")
    assert result.returncode == 0, result.stderr
    assert old in tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    assert "conflict" not in result.stdout
    again = obs_init(root)
    assert again.returncode == 0 and "Nothing to write" in again.stdout


class _Terminal(io.StringIO):
    """Standard input that says it is a terminal, with the user's answers in it."""

    def isatty(self) -> bool:
        return True


def test_asks_in_a_terminal_before_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In a terminal without --yes, obs init asks: "n" writes nothing (exit 1), "y" writes everything."""
    root = copy_fixture("flask_shop", tmp_path)
    before = snapshot(root)
    monkeypatch.setattr(sys, "stdin", _Terminal("n\n"))
    assert main(["init", str(root)]) == 1
    assert snapshot(root) == before
    out = capsys.readouterr().out
    writes = [line for line in out.splitlines() if line.split()[:1] in (["create"], ["update"])]
    assert f"Write {len(writes)} files? [y/N] Nothing written." in out
    monkeypatch.setattr(sys, "stdin", _Terminal("y\n"))
    assert main(["init", str(root)]) == 0
    assert (root / "observability/compose.yaml").is_file()


def test_never_uses_the_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Detection, rendering and writing run with every socket connection and name lookup refused."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"obs init tried the network: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    root = copy_fixture("fastapi_poetry", tmp_path)
    assert main(["init", str(root), "--yes"]) == 0
    assert (root / "observability/compose.yaml").is_file()
