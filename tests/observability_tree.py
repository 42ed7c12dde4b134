"""Writes a generated observability/ folder for tests, the way `obs init` does, from the renderers' output."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from obs.agent.settings import Settings, load_settings
from obs.collector import render as render_collector
from obs.dashboards import render as render_dashboards

__all__ = ["make_settings", "rendered_files", "write_tree"]


def make_settings(root: Path, **overrides: Any) -> Settings:
    """Settings for a project in ``root`` with no environment and no config file."""
    return load_settings(overrides, environ={}, cwd=root)


def rendered_files(settings: Settings) -> dict[str, str]:
    """Every file of observability/: the collector's and the dashboards'."""
    return {**render_collector(settings), **render_dashboards(settings)}


def write_tree(folder: Path, files: Mapping[str, str]) -> Path:
    """Write ``files`` under ``folder`` and return it."""
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder
