"""Settings: resolved in one order (argument, environment, [tool.obs] or obs.toml, default), with errors
that name the setting and where its value came from."""

from __future__ import annotations

from pathlib import Path

import pytest
from obs.agent.settings import SETTINGS, Settings, SettingsError, find_config_file, load_settings


def _project(folder: Path, tool_obs: str = "", *, name: str = "shop", version: str = "2.0.1") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "{version}"\n\n[tool.obs]\n{tool_obs}\n'
    )
    return folder


def test_defaults_without_any_configuration(tmp_path: Path) -> None:
    """No file, no environment: the folder names the service, and every setting has its default."""
    folder = tmp_path / "my-service"
    folder.mkdir()
    settings = load_settings(environ={}, cwd=folder)
    assert settings.service_name == "my-service"
    assert settings.sources["service_name"] == "project name"
    assert settings.environment == "development"
    assert (settings.traces_exporter, settings.metrics_exporter, settings.logs_exporter) == ("otlp",) * 3
    assert settings.protocol == "http/protobuf" and settings.timeout == 10.0
    assert settings.endpoint_configured is False
    assert settings.signal_endpoint("traces") == "http://localhost:4318/v1/traces"
    assert settings.telemetry_path() == folder.resolve() / ".obs" / "telemetry"
    assert settings.sources["protocol"] == "default"


def test_project_table_and_tool_obs(tmp_path: Path) -> None:
    """[project] gives the service name and version; [tool.obs] gives the rest; found from a subfolder."""
    root = _project(tmp_path / "repo", 'environment = "staging"\ninstrumentations = ["flask", "requests"]')
    nested = root / "src" / "shop"
    nested.mkdir(parents=True)
    settings = load_settings(environ={}, cwd=nested)
    assert (settings.service_name, settings.service_version) == ("shop", "2.0.1")
    assert settings.environment == "staging"
    assert settings.instrumentations == ("flask", "requests")
    assert settings.project_root == root.resolve()
    assert settings.sources["environment"] == f"[tool.obs] in {(root / 'pyproject.toml').resolve()}"


def test_obs_toml_is_read_at_the_top_level(tmp_path: Path) -> None:
    """obs.toml holds the settings at its top level and is preferred over pyproject.toml next to it."""
    root = _project(tmp_path, 'environment = "from-pyproject"')
    (root / "obs.toml").write_text('environment = "from-obs-toml"\nservice_name = "svc"\n')
    settings = load_settings(environ={}, cwd=root)
    assert (settings.environment, settings.service_name) == ("from-obs-toml", "svc")


def test_environment_beats_the_file_and_arguments_beat_both(tmp_path: Path) -> None:
    """OTEL_*/OBS_* variables override [tool.obs]; obs.init() arguments override the variables."""
    root = _project(tmp_path, 'service_name = "from-file"\nenvironment = "from-file"')
    environ = {"OTEL_SERVICE_NAME": "from-env", "OBS_ENVIRONMENT": "from-env"}
    settings = load_settings(environ=environ, cwd=root)
    assert (settings.service_name, settings.environment) == ("from-env", "from-env")
    assert settings.sources["service_name"] == "environment variable OTEL_SERVICE_NAME"
    settings = load_settings({"service_name": "from-arg"}, environ=environ, cwd=root)
    assert (settings.service_name, settings.environment) == ("from-arg", "from-env")
    assert settings.sources["service_name"] == "obs.init() argument"


def test_empty_variables_count_as_unset(tmp_path: Path) -> None:
    """An exported but empty variable does not override the file."""
    root = _project(tmp_path, 'service_name = "from-file"')
    assert load_settings(environ={"OTEL_SERVICE_NAME": "  "}, cwd=root).service_name == "from-file"


def test_otel_variables_in_their_units(tmp_path: Path) -> None:
    """OTEL_EXPORTER_OTLP_TIMEOUT is milliseconds (OBS_EXPORT_TIMEOUT seconds wins over it); headers are
    key=value pairs, URL-decoded; the endpoint variables and the sampler are taken as given."""
    settings = load_settings(environ={
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
        "OTEL_EXPORTER_OTLP_HEADERS": "api-key=a%3Db,team=shop",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318/",
        "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25",
        "OTEL_METRIC_EXPORT_INTERVAL": "1500", "OTEL_SDK_DISABLED": "false",
    }, cwd=tmp_path)
    assert settings.timeout == 2.5
    assert settings.headers == (("api-key", "a=b"), ("team", "shop"))
    assert settings.signal_endpoint("logs") == "https://collector:4318/v1/logs"
    assert (settings.traces_sampler, settings.traces_sampler_arg) == ("traceidratio", 0.25)
    assert settings.metric_export_interval == 1500 and settings.disabled is False
    both = {"OTEL_EXPORTER_OTLP_TIMEOUT": "2500", "OBS_EXPORT_TIMEOUT": "4"}
    assert load_settings(environ=both, cwd=tmp_path).timeout == 4.0


@pytest.mark.parametrize(("tool_obs", "setting", "hint"), [
    ('metric_export_interval = "soon"', "metric_export_interval", "whole number"),
    ("capture_logging = 3", "capture_logging", "true or false"),
    ('traces_exporter = "zipkin"', "traces_exporter", "otlp, file, console, none"),
    ("instrumentations = 5", "instrumentations", "list of names"),
    ("headers = 7", "headers", "table"),
    ('colour = "red"', "colour", "unknown key"),
])
def test_bad_file_values_name_setting_and_file(
    tmp_path: Path, tool_obs: str, setting: str, hint: str
) -> None:
    """A wrong value in [tool.obs] is a SettingsError naming the setting, the file and what is expected."""
    root = _project(tmp_path, tool_obs)
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={}, cwd=root)
    assert raised.value.setting == setting
    assert raised.value.origin == f"[tool.obs] in {(root / 'pyproject.toml').resolve()}"
    assert hint in str(raised.value)


def test_bad_variable_names_the_variable(tmp_path: Path) -> None:
    """A wrong value in the environment names the variable."""
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={"OTEL_TRACES_SAMPLER_ARG": "2"}, cwd=tmp_path)
    assert raised.value.origin == "environment variable OTEL_TRACES_SAMPLER_ARG"
    assert "between 0 and 1" in str(raised.value)


def test_unknown_argument_names_it(tmp_path: Path) -> None:
    """obs.init(colour=...) is an error naming the argument and listing the known settings."""
    with pytest.raises(SettingsError) as raised:
        load_settings({"colour": "red"}, environ={}, cwd=tmp_path)
    assert raised.value.setting == "colour" and "service_name" in str(raised.value)


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    """A pyproject.toml that is not valid TOML is one error naming the file, not a traceback."""
    (tmp_path / "pyproject.toml").write_text("[tool.obs\n")
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={}, cwd=tmp_path)
    assert raised.value.origin == str((tmp_path / "pyproject.toml").resolve())
    assert "not valid TOML" in str(raised.value)


def test_search_stops_at_the_repository_root(tmp_path: Path) -> None:
    """The search for a config file goes up from the working folder and stops at a .git folder."""
    outer = _project(tmp_path, 'environment = "outer"')
    repo = outer / "repo"
    (repo / ".git").mkdir(parents=True)
    inner = repo / "pkg"
    inner.mkdir()
    assert find_config_file(inner.resolve()) is None
    assert load_settings(environ={}, cwd=inner).environment == "development"


def test_every_setting_is_a_declared_field_of_settings(tmp_path: Path) -> None:
    """SETTINGS and the attributes Settings declares (what type checkers see) name the same settings, in the
    same order; the resolved settings compare and hash by value, ``sources`` aside, and stay read-only."""
    declared = [name for name in Settings.__annotations__ if not name.startswith("_")]
    assert declared == [setting.name for setting in SETTINGS] + ["project_root", "config_file", "sources"]
    first, second = load_settings(environ={}, cwd=tmp_path), load_settings(environ={}, cwd=tmp_path)
    assert first == second and hash(first) == hash(second)
    assert first.replace(log_level="debug") != first
    assert first.replace(sources={"x": "y"}) == first
    with pytest.raises(AttributeError):
        first.log_level = "debug"
