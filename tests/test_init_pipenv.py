"""`obs init` on projects managed by Pipenv, PDM and Hatch: where the packages go and what to run next."""

from __future__ import annotations

import difflib
import textwrap
import tomllib
from pathlib import Path

import pytest

from obs.detect import detect, open_project
from obs.init.dependencies import edit_dependencies
from obs.init.pins import pins_for
from tests.init_helpers import obs_init

PIPFILE = """\
# Shop API: `pipenv install` sets it up
[[source]]
url = "https://packages.example.com/simple"
verify_ssl = true
name = "internal"

[packages]
flask = "*"            # the web app
requests = {version = ">=2.31", extras = ["socks"]}

[dev-packages]
pytest = "*"
sqlalchemy = "*"       # the fixtures' database only

[requires]
python_version = "3.11"
"""

APP = """\
import requests
from flask import Flask

app = Flask(__name__)


@app.get("/rates")
def rates():
    return requests.get("http://127.0.0.1:9/rates", timeout=1).json()
"""


def _pipenv_project(root: Path) -> Path:
    """The issue's project: a Pipfile (flask and requests in [packages]) and an app.py, nothing else."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "Pipfile").write_text(PIPFILE)
    (root / "app.py").write_text(APP)
    return root


def test_a_pipfile_declares_the_apps_dependencies_and_its_dev_packages(tmp_path: Path) -> None:
    """[packages] are the app's dependencies (with the Pipfile's line as evidence); a library only in
    [dev-packages] is reported as development only and not instrumented."""
    detection = detect(open_project(_pipenv_project(tmp_path / "shop")))
    assert detection.instrumentations == ("flask", "requests")
    flask = next(finding for finding in detection.findings if finding.library.key == "flask")
    assert [(item.path, item.line, item.section) for item in flask.declared] == [("Pipfile", 8, "[packages]")]
    sqlalchemy = next(finding for finding in detection.findings if finding.library.key == "sqlalchemy")
    assert sqlalchemy.status == "development only"
    assert sqlalchemy.reason == "only in [dev-packages]"


def test_obs_init_pins_into_packages_keeping_the_pipfiles_layout(tmp_path: Path) -> None:
    """`obs init --yes` in a Pipenv project: the instrumentations' pins are added to [packages] and nothing
    else in the Pipfile changes (comments, source, dev-packages, order); the settings go to obs.toml; the next
    step is `pipenv install`; a second run writes nothing."""
    root = _pipenv_project(tmp_path / "shop")
    first = obs_init(root, "--yes")
    assert first.returncode == 0, first.stderr
    after = (root / "Pipfile").read_text()
    changes = [line for line in difflib.ndiff(PIPFILE.splitlines(), after.splitlines())
               if line.startswith(("- ", "+ "))]
    assert all(line.startswith("+ ") for line in changes), changes
    parsed = tomllib.loads(after)
    pins, *_ = pins_for(("flask", "requests"))
    for pin in pins:
        assert parsed["packages"][pin.name] == f"=={pin.version}"
    assert len(changes) == len(pins)
    assert parsed["dev-packages"] == tomllib.loads(PIPFILE)["dev-packages"]
    assert after.index("[dev-packages]") > max(after.index(pin.name) for pin in pins)  # inside [packages]
    assert tomllib.loads((root / "obs.toml").read_text())["instrumentations"] == ["flask", "requests"]
    assert "Install the added packages:  pipenv install" in first.stdout
    second = obs_init(root, "--yes")
    assert second.returncode == 0, second.stderr
    assert (root / "Pipfile").read_text() == after
    assert "Nothing to write" in second.stdout


def test_a_folder_with_only_a_pipfile_is_a_python_project(tmp_path: Path) -> None:
    """A Pipfile alone makes a project (it used to be refused as "not a Python project"); a broken one is
    one line naming it."""
    root = tmp_path / "tiny"
    root.mkdir()
    (root / "Pipfile").write_text("[packages]\nflask = '*'\n")
    assert open_project(root).markers() == ["Pipfile"]
    (root / "Pipfile").write_text("[packages\nflask = '*'\n")
    broken = obs_init(root, "--yes")
    assert broken.returncode != 0
    assert len(broken.stderr.strip().splitlines()) == 1
    assert "Pipfile is not valid TOML" in broken.stderr


PYPROJECT = """\
[project]
name = "shop"
dependencies = ["flask>=3"]
"""


@pytest.mark.parametrize(
    ("files", "install"),
    [
        ({"pyproject.toml": PYPROJECT + "\n[tool.pdm]\ndistribution = false\n"}, "pdm install"),
        ({"pyproject.toml": PYPROJECT, "pdm.lock": "# pdm lock\n"}, "pdm install"),
        ({"pyproject.toml": PYPROJECT + "\n[tool.hatch.envs.default]\npython = '3.12'\n"}, "hatch shell"),
        ({"pyproject.toml": PYPROJECT, "hatch.toml": "[envs.default]\n"}, "hatch shell"),
        ({"pyproject.toml": PYPROJECT, "uv.lock": "version = 1\n"}, "uv sync"),
        ({"pyproject.toml": PYPROJECT}, "pip install -e ."),
    ],
    ids=["tool.pdm", "pdm.lock", "tool.hatch", "hatch.toml", "uv.lock", "plain"],
)
def test_pdm_and_hatch_projects_get_their_own_install_step(
    files: dict[str, str], install: str, tmp_path: Path
) -> None:
    """A pyproject-based project managed by PDM ([tool.pdm] or pdm.lock) is told `pdm install` (which
    re-locks from the edited pyproject.toml); one managed by Hatch ([tool.hatch] or hatch.toml) is told that
    Hatch installs them as `hatch shell` starts; the pins go to [project] dependencies either way."""
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    pins, *_ = pins_for(("flask",))
    edit = edit_dependencies(open_project(tmp_path), pins, force=False)
    assert edit.target == "[project] dependencies"
    assert edit.install is not None and edit.install.split("  ")[0] == install
    assert edit.text is not None
    assert tomllib.loads(edit.text)["project"]["dependencies"] == ["flask>=3", *(p.requirement for p in pins)]
