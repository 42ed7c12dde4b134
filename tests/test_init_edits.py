"""How `obs init` edits the user's own files: [tool.obs] / obs.toml merges and dependency pins."""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path

import pytest

from obs.detect import open_project
from obs.errors import ProjectError
from obs.init.config_file import desired_table, edit_config
from obs.init.dependencies import edit_dependencies
from obs.init.pins import Pin
from obs.init.plan import build_plan

PINS = (Pin("obs-bootstrap", "0.1.0"), Pin("opentelemetry-instrumentation-flask", "0.66b1"))
DESIRED = desired_table("shop", ("flask",))


def _project(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path


@pytest.mark.parametrize(
    ("files", "target"),
    [
        ({"pyproject.toml": "[project]\nname = 'a'\n"}, "[project] dependencies"),
        (
            {
                "pyproject.toml": "[project]\nname = 'a'\ndynamic = ['dependencies']\n",
                "requirements.txt": "flask\n",
            },
            "requirements.txt",
        ),
        (
            {"pyproject.toml": "[tool.black]\nline-length = 100\n", "requirements.txt": "flask\n"},
            "requirements.txt",
        ),
        ({"pyproject.toml": "[tool.black]\nline-length = 100\n", "setup.py": "setup(name='a')\n"}, "none"),
        ({"setup.cfg": "[metadata]\nname = a\n"}, "none"),
    ],
)
def test_packages_go_where_the_project_declares_dependencies(
    files: dict[str, str], target: str, tmp_path: Path
) -> None:
    """[project] (unless dynamic), else requirements.txt, else nowhere (the install command is printed)."""
    edit = edit_dependencies(open_project(_project(tmp_path, **files)), PINS, force=False)
    assert edit.target == target
    if target == "[project] dependencies":
        assert edit.text is not None
        assert tomllib.loads(edit.text)["project"]["dependencies"] == [pin.requirement for pin in PINS]


def test_setup_py_without_requirements_prints_the_install_command(tmp_path: Path) -> None:
    """With nothing obs may edit, the plan carries the exact pip command and setup.py is left alone."""
    root = _project(
        tmp_path,
        **{"setup.py": "from setuptools import setup\nsetup(name='a', install_requires=['flask'])\n"},
    )
    plan = build_plan(root, service_name=None, out_dir=None, force=False)
    assert plan.deps.target == "none"
    assert plan.pip_command is not None
    assert plan.pip_command.split()[:2] == ["pip", "install"]
    assert "opentelemetry-instrumentation-flask" in plan.pip_command
    assert all(step.planned.path.name != "setup.py" for step in plan.steps)


def test_requirements_without_final_newline_keeps_every_byte(tmp_path: Path) -> None:
    """The pins go after the last line; what was there stays byte for byte."""
    root = _project(tmp_path, **{"requirements.txt": "flask==3.0.2  # web"})
    edit = edit_dependencies(open_project(root), PINS, force=False)
    assert edit.text is not None
    assert edit.text.startswith("flask==3.0.2  # web\n")
    assert edit.text.splitlines()[-2:] == [pin.requirement for pin in PINS]


def test_tool_obs_is_appended_after_everything_else(tmp_path: Path) -> None:
    """A new [tool.obs] goes at the end (after one blank line), even when [tool.*] tables come first."""
    original = '[tool.ruff]\nline-length = 100\n\n[project]\nname = "shop"'
    root = _project(tmp_path, **{"pyproject.toml": original})
    edit = edit_config(open_project(root), DESIRED, force=False)
    assert edit.text.startswith(original + "\n\n[tool.obs]\n")
    assert tomllib.loads(edit.text)["tool"]["obs"] == DESIRED


def test_existing_table_gains_missing_keys_only(tmp_path: Path) -> None:
    """Keys the user wrote (and their comments) stay; only missing managed keys are added."""
    root = _project(
        tmp_path,
        **{
            "pyproject.toml": """\
        [project]
        name = "shop"

        [tool.obs]
        # our naming scheme
        service_name = "shop-web"  # matches the k8s deployment
        traces_sampler = "always_on"

        [tool.ruff]
        line-length = 100
        """
        },
    )
    edit = edit_config(open_project(root), DESIRED, force=False)
    assert '# our naming scheme\nservice_name = "shop-web"  # matches the k8s deployment\n' in edit.text
    table = tomllib.loads(edit.text)["tool"]["obs"]
    assert table["service_name"] == "shop-web"
    assert table["traces_sampler"] == "always_on"
    assert table["instrumentations"] == ["flask"]
    assert [conflict.key for conflict in edit.conflicts] == ["service_name"]
    assert tomllib.loads(edit.text)["tool"]["ruff"] == {"line-length": 100}


def test_obs_toml_wins_over_pyproject(tmp_path: Path) -> None:
    """Where the project keeps obs.toml, that is the file the agent reads, so that is the file edited."""
    root = _project(
        tmp_path, **{"pyproject.toml": "[project]\nname = 'shop'\n", "obs.toml": "environment = 'ci'\n"}
    )
    edit = edit_config(open_project(root), DESIRED, force=False)
    assert edit.path == root / "obs.toml"
    assert tomllib.loads(edit.text)["environment"] == "ci"


def test_tool_obs_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    """`tool.obs = 1` cannot be merged into: one clear error naming it."""
    root = _project(tmp_path, **{"pyproject.toml": "[project]\nname = 'shop'\n\n[tool]\nobs = 1\n"})
    with pytest.raises(ProjectError, match=r"`tool\.obs` in .*pyproject\.toml is not a table"):
        edit_config(open_project(root), DESIRED, force=False)
