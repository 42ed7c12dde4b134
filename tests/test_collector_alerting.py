"""The generated Alertmanager config passes Alertmanager's own `amtool check-config`, as generated and once
the user gives receiver obs-team the integration its header shows; the check is not vacuous."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from obs.collector.alerting import ALERTMANAGER_CONFIG, RECEIVER

from tests.observability_tree import make_settings, rendered_files
from tests.tools import amtool


def _generated(folder: Path) -> str:
    return rendered_files(make_settings(folder, service_name="shop"))[ALERTMANAGER_CONFIG]


def _check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [amtool(), "check-config", str(path)], capture_output=True, text=True, timeout=60, check=False
    )


def test_generated_config_passes_amtool(tmp_path: Path) -> None:
    """amtool loads the file as Alertmanager does: one route, one receiver, no integration yet."""
    path = tmp_path / "alertmanager.yml"
    path.write_text(_generated(tmp_path), encoding="utf-8")
    result = _check_config(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "1 receivers" in result.stdout


def test_config_with_the_headers_example_integration_passes_amtool(tmp_path: Path) -> None:
    """Filled in the way the file's header shows (a webhook), the config still loads."""
    document = yaml.safe_load(_generated(tmp_path))
    (receiver,) = document["receivers"]
    assert receiver == {"name": RECEIVER}
    receiver["webhook_configs"] = [{"url": "https://hooks.example.com/alerts"}]
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    result = _check_config(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_refuses_a_route_to_an_undefined_receiver(tmp_path: Path) -> None:
    """The check is real: the same file routing to a receiver it does not define fails."""
    path = tmp_path / "alertmanager.yml"
    text = _generated(tmp_path).replace(f"receiver: {RECEIVER}", "receiver: nobody")
    path.write_text(text, encoding="utf-8")
    result = _check_config(path)
    assert result.returncode != 0
    assert 'undefined receiver "nobody"' in result.stdout + result.stderr
