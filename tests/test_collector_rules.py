"""The generated alert rules pass `promtool check rules`, and the unit tests in tests/rules/ pass under
promtool: each alert fires when it should and stays quiet when it should not."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from obs.collector.rules import RULES_PATH

from tests.observability_tree import make_settings, rendered_files
from tests.tools import promtool

UNIT_TESTS = Path(__file__).parent / "rules" / "obs-alerts.test.yaml"


def _rules_next_to_unit_tests(folder: Path, text: str | None = None) -> Path:
    files = rendered_files(make_settings(folder, service_name="shop"))
    (folder / "obs-alerts.yaml").write_text(text if text is not None else files[RULES_PATH], encoding="utf-8")
    return Path(shutil.copy(UNIT_TESTS, folder / UNIT_TESTS.name))


def _promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def test_generated_rules_pass_promtool_check(tmp_path: Path) -> None:
    """promtool parses every expression of the generated rule file."""
    _rules_next_to_unit_tests(tmp_path)
    result = _promtool("check", "rules", tmp_path / "obs-alerts.yaml")
    assert result.returncode == 0, result.stderr
    assert "SUCCESS: 12 rules found" in result.stdout


def test_rule_unit_tests_pass(tmp_path: Path) -> None:
    """Every alert fires and stays quiet exactly where tests/rules/obs-alerts.test.yaml says."""
    tests = _rules_next_to_unit_tests(tmp_path)
    result = _promtool("test", "rules", tests)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rule_unit_tests_catch_a_wrong_threshold(tmp_path: Path) -> None:
    """The unit tests are not vacuous: a rule file with a laxer error threshold fails them."""
    files = rendered_files(make_settings(tmp_path, service_name="shop"))
    lax = files[RULES_PATH].replace("} > 0.05", "} > 0.5")
    assert lax != files[RULES_PATH]
    tests = _rules_next_to_unit_tests(tmp_path, lax)
    result = _promtool("test", "rules", tests)
    assert result.returncode != 0
    assert "ObsHighErrorRatio" in result.stdout + result.stderr
