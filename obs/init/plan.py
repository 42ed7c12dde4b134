"""Everything ``obs init`` will do, worked out in memory before the first write.

Reading the project, detecting what it uses, merging the settings, adding the packages, rendering the
observability folder and comparing each file with the disk all happen here; any problem (a broken
pyproject.toml, a bad setting) surfaces as one error before anything touches the disk.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from obs import __version__
from obs.agent.settings import Settings
from obs.detect import Detection, Project, detect, open_project
from obs.init.config_file import ConfigEdit, desired_table, edit_config, settings_from_table
from obs.init.dependencies import DepsEdit, edit_dependencies, pip_command
from obs.init.manifest import FILENAME as MANIFEST
from obs.init.manifest import Manifest, digest, read_manifest
from obs.init.pins import Pin, pins_for
from obs.init.scaffold import Planned, Step, plan, plan_one

__all__ = ["DEFAULT_DIR", "InitPlan", "build_plan", "render_observability"]

DEFAULT_DIR: Final = "observability"


@dataclass(frozen=True)
class InitPlan:
    """The outcome of reading the project and rendering every file, nothing written yet."""

    project: Project
    detection: Detection
    config: ConfigEdit
    deps: DepsEdit
    pins: tuple[Pin, ...]
    unknown_instrumentations: tuple[str, ...]
    own_pin_note: str | None
    """Why obs-bootstrap itself is pinned by URL or not at all (installed from a checkout, a wheel...)."""
    settings: Settings
    out_dir: Path
    steps: tuple[Step, ...]
    """Every file with its action (create, identical, update, conflict, overwrite), the manifest last."""

    @property
    def pip_command(self) -> str | None:
        """The exact install command where obs edits no dependency list that installs the app (setup.py)."""
        if self.deps.target == "none" or (self.project.setup_py and self.deps.target == "requirements.txt"):
            return pip_command(self.pins)
        return None


def render_observability(settings: Settings) -> dict[str, str]:
    """Every file of the observability folder, from the collector and dashboards generators."""
    from obs.collector import render as render_collector
    from obs.dashboards import render as render_dashboards

    files = {**render_collector(settings), **render_dashboards(settings)}
    return dict(sorted(files.items()))


def _out_dir(root: Path, given: str | None) -> Path:
    folder = Path(given).expanduser() if given else Path(DEFAULT_DIR)
    return folder if folder.is_absolute() else root / folder


def _observability_steps(
    out: Path, rendered: dict[str, str], previous: Manifest, force: bool
) -> tuple[list[Step], dict[str, str]]:
    """Steps for the generated files, and their record: a kept conflict keeps the digest obs last wrote."""
    steps = [
        plan_one(Planned(out / relative, text, previous=previous.files.get(relative)), force=force)
        for relative, text in rendered.items()
    ]
    record = {}
    for step, relative in zip(steps, rendered, strict=True):
        if step.action != "conflict":
            record[relative] = digest(step.planned.content)
        elif relative in previous.files:
            record[relative] = previous.files[relative]
    return steps, record


def build_plan(path: Path, *, service_name: str | None, out_dir: str | None, force: bool) -> InitPlan:
    """Read, detect, merge, render and compare; bad input raises ProjectError or SettingsError (one line)."""
    project = open_project(path)
    out = _out_dir(project.root, out_dir)
    previous = read_manifest(out / MANIFEST)
    detection = detect(project, frozenset({out}))
    name = service_name or project.name or project.root.name
    desired = desired_table(name, detection.instrumentations)
    explicit = frozenset({"service_name"}) if service_name else frozenset()

    def config_of(of: Project) -> ConfigEdit:
        return edit_config(of, desired, force=force, explicit=explicit, previous=previous.settings)

    config = config_of(project)
    settings = settings_from_table(config.table, config.path, project.root)
    pins, unknown, own_note = pins_for(settings.instrumentations)
    deps = edit_dependencies(project, pins, force=force, previous=previous.packages)
    edited: list[Planned] = []
    if deps.path is not None and deps.text is not None:
        if deps.path == config.path:
            config = config_of(dataclasses.replace(project, pyproject_text=deps.text))
        else:
            edited.append(Planned(deps.path, deps.text, edited=True))
    edited.insert(0, Planned(config.path, config.text, edited=True))
    steps = plan(edited, force=force)
    generated, files = _observability_steps(out, render_observability(settings), previous, force)
    record = Manifest(files, config.recorded, deps.recorded)
    manifest = Planned(out / MANIFEST, record.render(f"obs {__version__}"), edited=True)
    steps += [*generated, plan_one(manifest, force=force)]
    return InitPlan(project, detection, config, deps, pins, unknown, own_note, settings, out, tuple(steps))
