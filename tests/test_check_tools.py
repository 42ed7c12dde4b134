"""obs.tools.find_tool: an explicit override wins over PATH, and a broken override is "not available"."""

from __future__ import annotations

from pathlib import Path

import pytest

from obs.tools import find_tool


def _program(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def test_override_variable_wins_over_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """OBS_PROMTOOL names the binary even when another promtool is on PATH."""
    on_path = _program(tmp_path / "path", "promtool")
    chosen = _program(tmp_path / "mine", "my-promtool")
    monkeypatch.setenv("PATH", str(on_path.parent))
    monkeypatch.setenv("OBS_PROMTOOL", str(chosen))
    assert find_tool("promtool") == str(chosen)


def test_path_is_searched_without_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the variable, the first match on PATH is used; none at all gives None."""
    on_path = _program(tmp_path / "path", "docker")
    monkeypatch.delenv("OBS_DOCKER", raising=False)
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert find_tool("docker") == str(on_path)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert find_tool("docker") is None


def test_override_that_is_not_an_executable_is_not_available(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A variable naming a missing file does not silently fall back to another binary."""
    _program(tmp_path / "path", "promtool")
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    monkeypatch.setenv("OBS_PROMTOOL", str(tmp_path / "missing"))
    assert find_tool("promtool") is None
