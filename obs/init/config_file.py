"""The ``[tool.obs]`` table ``obs init`` writes (or ``obs.toml`` where a project has no pyproject.toml).

Merging, not overwriting: keys the file lacks are added, keys it already has with another value are the
user's and stay (reported as conflicts; ``--force`` replaces them), keys obs does not manage are left alone.
Comments and layout survive because the file is edited with tomlkit. The settings the generated files are
rendered from are read back from the merged table, so they always match what the agent will read.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import tomlkit
import tomlkit.exceptions
from tomlkit.items import Table

from obs.agent.settings import SETTINGS, Settings, SettingsError
from obs.detect import Project, parse_toml
from obs.errors import ProjectError

__all__ = ["MANAGED", "ConfigEdit", "KeyConflict", "desired_table", "edit_config", "settings_from_table"]

MANAGED: Final = (
    "service_name",
    "environment",
    "instrumentations",
    "protocol",
    "traces_exporter",
    "metrics_exporter",
    "logs_exporter",
    "metric_export_interval",
)
"""Keys ``obs init`` writes, in order. All are settings of :data:`obs.agent.settings.SETTINGS`."""

_BY_NAME: Final = {setting.name: setting for setting in SETTINGS}

_COMMENTS: Final = {
    "service_name": "Settings for obs (`obs run`, `import obs; obs.init()`); OTEL_* environment variables "
    "override them.\n`obs init` wrote them and keeps your changes when run again.",
    "instrumentations": "OpenTelemetry instrumentations to turn on (entry point names), detected from the "
    "project.",
    "protocol": "Export OTLP over HTTP to http://localhost:4318 (the stack `obs up` starts); set "
    "`endpoint` to send\nelsewhere. While nothing listens there, telemetry goes to .obs/telemetry/ "
    "(`obs view` shows it).",
}


@dataclass(frozen=True)
class KeyConflict:
    """A key whose value in the file differs from what ``obs init`` would write; the file's value stays."""

    key: str
    kept: Any
    proposed: Any


@dataclass(frozen=True)
class ConfigEdit:
    """The config file after the merge, and what the merge did."""

    path: Path
    text: str
    table: dict[str, Any]
    """The effective table, as plain Python values."""
    added: tuple[str, ...]
    replaced: tuple[str, ...]
    conflicts: tuple[KeyConflict, ...]
    new_table: bool
    recorded: dict[str, Any]
    """The managed values obs stands behind now, for the manifest (a kept conflict keeps its old record)."""

    @property
    def label(self) -> str:
        return "[tool.obs]" if self.path.name == "pyproject.toml" else self.path.name


def desired_table(service_name: str, instrumentations: tuple[str, ...]) -> dict[str, Any]:
    """What ``obs init`` would write for a project with nothing configured yet."""
    values = {
        "service_name": service_name,
        "environment": _BY_NAME["environment"].default,
        "instrumentations": list(instrumentations),
        "protocol": _BY_NAME["protocol"].default,
        "traces_exporter": _BY_NAME["traces_exporter"].default,
        "metrics_exporter": _BY_NAME["metrics_exporter"].default,
        "logs_exporter": _BY_NAME["logs_exporter"].default,
        "metric_export_interval": _BY_NAME["metric_export_interval"].default,
    }
    return {key: values[key] for key in MANAGED}


def _item(key: str, value: Any) -> Any:
    if isinstance(value, list):
        array = tomlkit.array()
        array.extend(value)
        if len(value) > 4:
            array.multiline(True)
        return array
    return value


def _fill(container: Table | tomlkit.TOMLDocument, desired: Mapping[str, Any]) -> None:
    for key, value in desired.items():
        comment = _COMMENTS.get(key)
        if comment:
            for line in comment.splitlines():
                container.add(tomlkit.comment(line))
        container.add(key, _item(key, value))


def _same(key: str, left: Any, right: Any, origin: str) -> bool:
    setting = _BY_NAME[key]
    try:
        return bool(setting.convert(left) == setting.convert(right))
    except TypeError as error:
        raise SettingsError(key, origin, str(error)) from None


@dataclass
class _Merge:
    added: list[str]
    replaced: list[str]
    conflicts: list[KeyConflict]
    recorded: dict[str, Any]


def _merge(
    table: MutableMapping[str, Any],
    desired: Mapping[str, Any],
    previous: Mapping[str, Any],
    *,
    force: bool,
    explicit: frozenset[str],
    origin: str,
) -> _Merge:
    """Add missing keys; replace a differing value only if forced, given on the command line, or still the
    value obs recorded last time (so the user never changed it)."""
    merge = _Merge([], [], [], {})
    for key, value in desired.items():
        merge.recorded[key] = value
        if key not in table:
            table[key] = _item(key, value)
            merge.added.append(key)
            continue
        current = _plain(table[key])
        if _same(key, current, value, origin):
            continue
        untouched = key in previous and _same(key, current, previous[key], origin)
        if force or key in explicit or untouched:
            table[key] = _item(key, value)
            merge.replaced.append(key)
        else:
            merge.conflicts.append(KeyConflict(key, current, value))
            if key in previous:
                merge.recorded[key] = previous[key]
            else:
                del merge.recorded[key]
    return merge


def _plain(value: Any) -> Any:
    unwrap = getattr(value, "unwrap", None)
    return unwrap() if callable(unwrap) else value


def _append_table(text: str, desired: Mapping[str, Any]) -> str:
    """Add ``[tool.obs]`` at the end of pyproject.toml, after one blank line, leaving the rest byte-exact."""
    fresh = tomlkit.document()
    tool = tomlkit.table(is_super_table=True)
    obs = tomlkit.table()
    _fill(obs, desired)
    tool.add("obs", obs)
    fresh.add("tool", tool)
    body = tomlkit.dumps(fresh)
    if not text.strip():
        return body
    separator = "" if text.endswith("\n\n") else "\n" if text.endswith("\n") else "\n\n"
    return text + separator + body


def _add_table(document: tomlkit.TOMLDocument, text: str, desired: Mapping[str, Any]) -> str:
    """The file with a new ``[tool.obs]``: appended as text when that is valid TOML, else through tomlkit."""
    appended = _append_table(text, desired)
    try:
        tool = tomlkit.parse(appended).get("tool")
        if isinstance(tool, Mapping) and _plain(tool.get("obs")) == dict(desired):
            return appended
    except tomlkit.exceptions.TOMLKitError:
        pass
    obs = tomlkit.table()
    _fill(obs, desired)
    if "tool" not in document:
        document.add("tool", tomlkit.table(is_super_table=True))
    document["tool"]["obs"] = obs
    return tomlkit.dumps(document)


def _config_path(project: Project) -> Path:
    if project.obs_toml_text is not None or project.pyproject_text is None:
        return project.obs_toml
    return project.pyproject


def _describe(path: Path) -> str:
    return f"[tool.obs] in {path}" if path.name == "pyproject.toml" else str(path)


def edit_config(
    project: Project,
    desired: Mapping[str, Any],
    *,
    force: bool,
    explicit: frozenset[str] = frozenset(),
    previous: Mapping[str, Any] | None = None,
) -> ConfigEdit:
    """Merge ``desired`` into the project's obs settings; nothing is written here.

    ``explicit`` names keys the user gave on the command line: those replace the file's value.
    ``previous`` holds the values obs wrote last time (from the manifest).
    """
    path = _config_path(project)
    origin = _describe(path)
    text = project.obs_toml_text if path == project.obs_toml else project.pyproject_text
    if text is None:
        document = tomlkit.document()
        _fill(document, desired)
        return ConfigEdit(
            path, tomlkit.dumps(document), dict(desired), tuple(desired), (), (), True, dict(desired)
        )
    document = parse_toml(path, text)
    table: Any
    if path.name == "obs.toml":
        tool = document.get("tool")
        table = tool["obs"] if isinstance(tool, Mapping) and "obs" in tool else document
    else:
        tool = document.get("tool")
        if not isinstance(tool, Mapping) or "obs" not in tool:
            text = _add_table(document, text, desired)
            return ConfigEdit(path, text, dict(desired), tuple(desired), (), (), True, dict(desired))
        table = tool["obs"]
    if not isinstance(table, MutableMapping):
        raise ProjectError(f"`tool.obs` in {path} is not a table — make it a [tool.obs] table or remove it")
    unknown = sorted(key for key in table if key not in _BY_NAME and key != "tool")
    if unknown:
        raise SettingsError(unknown[0], origin, f"unknown key; known keys are {', '.join(_BY_NAME)}")
    merge = _merge(table, desired, previous or {}, force=force, explicit=explicit, origin=origin)
    effective = {key: _plain(value) for key, value in table.items() if key in _BY_NAME}
    return ConfigEdit(
        path,
        tomlkit.dumps(document),
        effective,
        tuple(merge.added),
        tuple(merge.replaced),
        tuple(merge.conflicts),
        False,
        merge.recorded,
    )


def settings_from_table(table: Mapping[str, Any], edit_path: Path, root: Path) -> Settings:
    """The settings the agent will read from ``table`` alone (no environment), to render files from."""
    origin = _describe(edit_path)
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in table:
            try:
                values[setting.name] = setting.convert(table[setting.name])
            except TypeError as error:
                raise SettingsError(setting.name, origin, str(error)) from None
        else:
            values[setting.name] = setting.default
    values["service_name"] = values["service_name"] or root.name or "app"
    return Settings(**values, project_root=root, config_file=edit_path, sources={})
