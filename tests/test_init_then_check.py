"""What `obs init` generates passes `obs check` for every example app and every test fixture."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.init_helpers import FIXTURES, copy_fixture, obs_init
from tests.tools import amtool, promtool

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PROJECTS = [
    ("example", "flask_app", {"flask", "requests", "psycopg", "celery"}),
    ("example", "fastapi_app", {"fastapi", "httpx"}),
    *[("fixture", path.name, set()) for path in sorted(FIXTURES.iterdir()) if path.is_dir()],
]


def _copy(kind: str, name: str, tmp_path: Path) -> Path:
    if kind == "fixture":
        return copy_fixture(name, tmp_path)
    target = tmp_path / name
    shutil.copytree(EXAMPLES / name, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.mark.parametrize(("kind", "name", "expected"), PROJECTS, ids=[f"{k}-{n}" for k, n, _ in PROJECTS])
def test_generated_stack_passes_obs_check(kind: str, name: str, expected: set[str], tmp_path: Path) -> None:
    """`obs init --yes` then `obs check` (promtool and amtool included) reports no problem and exits 0."""
    project = _copy(kind, name, tmp_path)
    init = obs_init(project, "--yes")
    assert init.returncode == 0, init.stderr
    for instrumentation in expected:
        assert f"  {instrumentation} " in init.stdout, init.stdout
    check = subprocess.run(
        [str(Path(shutil.which("obs") or "obs")), "check", str(project / "observability")],
        capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": str(Path(promtool()).parent) + ":" + str(Path(__import__("sys").executable).parent),
             "OBS_PROMTOOL": promtool(), "OBS_AMTOOL": amtool(), "NO_COLOR": "1"},
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "no problems" in check.stdout
    assert "promtool not found" not in check.stdout + check.stderr
    assert "amtool" not in check.stdout + check.stderr  # it ran, and accepted alertmanager.yml
