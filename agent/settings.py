"""The agent's settings: one frozen object, each setting declared once.

Resolution order, first match wins: an explicit argument (``obs.init(**overrides)``), the environment
(``OTEL_*`` as the OpenTelemetry specification names them, ``OBS_*`` for our own), ``[tool.obs]`` in the
project's ``pyproject.toml`` (or the top level of ``obs.toml``), then the default.

This module is a ground floor: it imports only the standard library, so that the CLI, the dashboards and the
collector generators can read settings without loading the OpenTelemetry SDK.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = [
    "EXPORTERS",
    "HEADERS_PROBLEM",
    "PROTOCOLS",
    "SETTINGS",
    "Frozen",
    "Setting",
    "Settings",
    "SettingsError",
    "find_config_file",
    "load_settings",
    "shown",
]

EXPORTERS = ("otlp", "file", "console", "none")
"""Values accepted for the per-signal exporter settings (``OTEL_TRACES_EXPORTER`` and its twins)."""

PROTOCOLS = ("http/protobuf", "grpc")
"""OTLP transports. ``http/json`` is not offered by the Python SDK's exporters."""

TYPE_CHECKING = False  # typing is for the type checker only
if TYPE_CHECKING:
    from typing import Any, ClassVar, Literal

    Source = Literal["argument", "environment", "file", "default"]
    _Tables = tuple[dict[str, Any], dict[str, Any]]


class Frozen:
    """A read-only record, equal, hashed and shown by its fields in ``_fields``.

    What ``@dataclass(frozen=True)`` would give, without its cost at every boot: ``@dataclass`` generates and
    compiles the methods of each class as it is defined, which for these records (settings, routes, limits,
    config; :class:`Settings` has thirty fields) takes several times as long as the rest of their modules
    (``python -X importtime -c "import obs.agent.settings"`` with and without it). Subclasses set their fields
    in ``__init__`` with :meth:`_set`.
    """

    _fields: ClassVar[tuple[str, ...]] = ()
    _hidden: ClassVar[frozenset[str]] = frozenset()
    """Fields left out of equality, hash and repr (as ``field(compare=False, repr=False)``)."""

    def _set(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only; cannot delete {name!r}")

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields if name not in self._hidden)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Frozen)
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        shown = (f"{name}={getattr(self, name)!r}" for name in self._fields if name not in self._hidden)
        return f"{type(self).__name__}({', '.join(shown)})"


class SettingsError(ValueError):
    """A setting has a value obs cannot use. The message names the setting, its source and the fix."""

    def __init__(self, setting: str, origin: str, problem: str) -> None:
        self.setting = setting
        self.origin = origin
        self.problem = problem
        super().__init__(f"invalid setting `{setting}` from {origin}: {problem}")


_SHOWN_LIMIT = 120
"""Longest value echoed in a message; a longer one is cut and its length said (never a 1 MB line)."""


def _mask_url_passwords(text: str) -> str:
    """``scheme://user:password@host`` as ``scheme://user:REDACTED@host`` (string operations only: this
    module must not load ``re``)."""
    start = 0
    while True:
        found = text.find("://", start)
        if found == -1:
            return text
        authority_start = found + 3
        end = len(text)
        for stop in "/?# \t\n'\"":
            position = text.find(stop, authority_start)
            if position != -1:
                end = min(end, position)
        at = text.rfind("@", authority_start, end)
        colon = text.find(":", authority_start, at) if at != -1 else -1
        if colon != -1:
            text = f"{text[:colon + 1]}REDACTED{text[at:]}"
            end = colon + 1 + len("REDACTED") + 1
        start = max(end, authority_start)


def shown(value: Any, limit: int = _SHOWN_LIMIT) -> str:
    """``value`` as a message may show it: quoted, URL passwords masked, cut past ``limit`` characters with
    its length said."""
    text = _mask_url_passwords(value if isinstance(value, str) else repr(value))
    if len(text) > limit:
        whole = len(value) if isinstance(value, str) else len(text)
        return f"{text[:limit]!r}... ({whole:,} characters)"
    return repr(text) if isinstance(value, str) else text


def _as_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {shown(value)}")


def _as_optional_str(value: Any) -> str | None:
    text = _as_str(value).strip()
    return text or None


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "off", ""):
        return False
    raise TypeError(f"expected true or false, got {shown(value)}")


def _as_positive_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(f"expected a whole number, got {shown(value)}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("+").isdigit():
        number = int(value)
    else:
        raise TypeError(f"expected a whole number, got {shown(value)}")
    if number <= 0:
        raise TypeError(f"expected a number above 0, got {number}")
    return number


def _as_seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError(f"expected a number of seconds, got {shown(value)}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"expected a number of seconds, got {shown(value)}") from None
    if number <= 0:
        raise TypeError(f"expected a number above 0, got {shown(value)}")
    return number


def _as_name_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, list | tuple):
        items = [_as_str(part).strip() for part in value]
    else:
        raise TypeError(f"expected a list of names, got {shown(value)}")
    return tuple(item for item in items if item)


def _as_patterns(value: Any) -> tuple[str, ...]:
    """Regular expressions, checked now (``re`` is loaded only when some are given)."""
    patterns = _as_name_list(value)
    if patterns:
        import re

        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as error:
                raise TypeError(f"{shown(pattern)} is not a regular expression ({error})") from None
    return patterns


def _as_mapping(value: Any) -> tuple[tuple[str, str], ...]:
    """Key-value pairs: a TOML table, or the ``k1=v1,k2=v2`` form of ``OTEL_EXPORTER_OTLP_HEADERS``."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(key), _as_str(item)) for key, item in value.items()))
    if isinstance(value, str):
        pairs = []
        for part in value.split(","):
            if not part.strip():
                continue
            key, sep, item = part.partition("=")
            if not sep or not key.strip():
                raise TypeError(HEADERS_PROBLEM)
            from urllib.parse import unquote

            pairs.append((unquote(key.strip()), unquote(item.strip())))
        return tuple(sorted(pairs))
    raise TypeError(f"expected a table of names to values, got {shown(value)}")


HEADERS_PROBLEM = ("expected key=value pairs separated by commas (the value is not shown: it may hold a "
                    "credential); write `Authorization=Bearer <token>`, not `Authorization: Bearer <token>`")


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        text = _as_str(value).strip().lower()
        if text not in choices:
            raise TypeError(f"expected one of {', '.join(choices)}, got {shown(value)}")
        return text

    return convert


def _exporter(value: Any) -> str:
    return _one_of(EXPORTERS)(value)


def _sampler_ratio(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError(f"expected a ratio between 0 and 1, got {shown(value)}")
    try:
        ratio = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"expected a ratio between 0 and 1, got {shown(value)}") from None
    if not 0.0 <= ratio <= 1.0:
        raise TypeError(f"expected a ratio between 0 and 1, got {shown(value)}")
    return ratio


class Setting(Frozen):
    """How one setting is named in each source and how its raw value becomes a typed one."""

    _fields = ("name", "convert", "default", "env", "help")
    name: str
    convert: Callable[[Any], Any]
    default: Any
    env: tuple[str, ...]
    help: str

    def __init__(
        self, name: str, convert: Callable[[Any], Any], default: Any, env: tuple[str, ...] = (),
        help: str = "",
    ) -> None:
        self._set(name=name, convert=convert, default=default, env=env, help=help)


SETTINGS: tuple[Setting, ...] = (
    Setting("service_name", _as_optional_str, None, ("OTEL_SERVICE_NAME",),
            "service.name; defaults to the project's name"),
    Setting("service_version", _as_optional_str, None, ("OBS_SERVICE_VERSION",),
            "service.version; defaults to the project's version"),
    Setting("environment", _as_str, "development", ("OBS_ENVIRONMENT",), "deployment.environment.name"),
    Setting("disabled", _as_bool, False, ("OTEL_SDK_DISABLED",), "turn the whole agent off"),
    Setting("endpoint", _as_optional_str, None, ("OTEL_EXPORTER_OTLP_ENDPOINT",),
            "OTLP base URL; unset means http://localhost:4318 with a fallback to local files"),
    Setting("traces_endpoint", _as_optional_str, None, ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",),
            "full URL for spans"),
    Setting("metrics_endpoint", _as_optional_str, None, ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",),
            "full URL for metrics"),
    Setting("logs_endpoint", _as_optional_str, None, ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",),
            "full URL for logs"),
    Setting("protocol", _one_of(PROTOCOLS), "http/protobuf", ("OTEL_EXPORTER_OTLP_PROTOCOL",),
            "OTLP transport"),
    Setting("headers", _as_mapping, (), ("OTEL_EXPORTER_OTLP_HEADERS",), "headers sent with every export"),
    Setting("timeout", _as_seconds, 10.0, ("OBS_EXPORT_TIMEOUT",),
            "seconds one export may take (OTEL_EXPORTER_OTLP_TIMEOUT is read in milliseconds)"),
    Setting("traces_exporter", _exporter, "otlp", ("OTEL_TRACES_EXPORTER",), "otlp, file, console or none"),
    Setting("metrics_exporter", _exporter, "otlp", ("OTEL_METRICS_EXPORTER",), "otlp, file, console or none"),
    Setting("logs_exporter", _exporter, "otlp", ("OTEL_LOGS_EXPORTER",), "otlp, file, console or none"),
    Setting("metric_export_interval", _as_positive_int, 10000, ("OTEL_METRIC_EXPORT_INTERVAL",),
            "milliseconds between metric exports"),
    Setting("traces_sampler", _as_optional_str, None, ("OTEL_TRACES_SAMPLER",),
            "sampler name as the OpenTelemetry specification spells it; default: every trace up to 10 a "
            "second per process, 10% beyond (failed requests always kept)"),
    Setting("traces_sampler_arg", _sampler_ratio, None, ("OTEL_TRACES_SAMPLER_ARG",),
            "the sampler's ratio (for the default sampler: the ratio beyond 10 traces a second)"),
    Setting("instrumentations", _as_name_list, (), ("OBS_INSTRUMENTATIONS",),
            "instrumentations to turn on (entry point names); empty means every installed one that applies"),
    Setting("disabled_instrumentations", _as_name_list, (), ("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",),
            "instrumentations to leave off"),
    Setting("telemetry_dir", _as_str, ".obs/telemetry", ("OBS_TELEMETRY_DIR",),
            "where telemetry goes when no collector answers"),
    Setting("capture_logging", _as_bool, True, ("OBS_CAPTURE_LOGGING",), "bridge stdlib logging"),
    Setting("capture_loguru", _as_bool, True, ("OBS_CAPTURE_LOGURU",), "bridge loguru"),
    Setting("capture_access_logs", _as_bool, False, ("OBS_CAPTURE_ACCESS_LOGS",),
            "export the servers' access log lines too (uvicorn, gunicorn, hypercorn, granian); they repeat "
            "what each request's span and metrics hold"),
    Setting("log_level", _one_of(("debug", "info", "warning", "error", "critical")), "info",
            ("OBS_LOG_LEVEL",), "lowest stdlib log level exported"),
    Setting("console_trace_ids", _as_bool, True, ("OBS_CONSOLE_TRACE_IDS",),
            "add the trace id to console log lines written inside a span"),
    Setting("runtime_metrics", _as_bool, True, ("OBS_RUNTIME_METRICS",), "process and runtime metrics"),
    Setting("scrub", _as_bool, True, ("OBS_SCRUB",),
            "replace secrets before telemetry leaves the process (the README lists what); false turns it "
            "off"),
    Setting("scrub_patterns", _as_patterns, (), ("OBS_SCRUB_PATTERNS",),
            "more regular expressions for attribute keys and query parameter names whose values are secret"),
    Setting("scrub_allow", _as_name_list, (), ("OBS_SCRUB_ALLOW",),
            "attribute keys and query parameter names never scrubbed"),
    Setting("error_groups", _as_bool, True, ("OBS_ERROR_GROUPS",),
            "count failures in error groups (obs.errors: unhandled exceptions of requests and tasks, "
            "exceptions logged at ERROR, whether logs are exported or not); false turns it off"),
    Setting("server_middleware", _one_of(("obs", "contrib")), "obs", ("OBS_SERVER_MIDDLEWARE",),
            "who records Flask, FastAPI, Starlette and Django requests: obs's own middleware (several times "
            "cheaper a request) or the contrib instrumentations"),
)

_BY_NAME = {setting.name: setting for setting in SETTINGS}
_SETTING_NAMES = tuple(_BY_NAME)


class Settings(Frozen):
    """The resolved settings. ``sources`` says where each value came from, for error messages and ``obs``.

    Built from keyword arguments, one per setting in :data:`SETTINGS` (all required), plus ``project_root``,
    ``config_file`` and ``sources``.
    """

    service_name: str
    service_version: str | None
    environment: str
    disabled: bool
    endpoint: str | None
    traces_endpoint: str | None
    metrics_endpoint: str | None
    logs_endpoint: str | None
    protocol: str
    headers: tuple[tuple[str, str], ...]
    timeout: float
    traces_exporter: str
    metrics_exporter: str
    logs_exporter: str
    metric_export_interval: int
    traces_sampler: str | None
    traces_sampler_arg: float | None
    instrumentations: tuple[str, ...]
    disabled_instrumentations: tuple[str, ...]
    telemetry_dir: str
    capture_logging: bool
    capture_loguru: bool
    capture_access_logs: bool
    log_level: str
    console_trace_ids: bool
    runtime_metrics: bool
    scrub: bool
    scrub_patterns: tuple[str, ...]
    scrub_allow: tuple[str, ...]
    error_groups: bool
    server_middleware: str
    project_root: Path
    config_file: Path | None
    sources: Mapping[str, str]

    _fields = (*_SETTING_NAMES, "project_root", "config_file", "sources")
    _hidden = frozenset({"sources"})

    def __init__(
        self,
        *,
        project_root: Path = Path("."),
        config_file: Path | None = None,
        sources: Mapping[str, str] | None = None,
        **values: Any,
    ) -> None:
        missing = [name for name in _SETTING_NAMES if name not in values]
        unknown = sorted(set(values) - set(_SETTING_NAMES))
        if missing or unknown:
            raise TypeError(f"Settings() needs exactly the settings: missing {missing}, unknown {unknown}")
        self._set(**values, project_root=project_root, config_file=config_file,
                  sources={} if sources is None else sources)

    @property
    def endpoint_configured(self) -> bool:
        """True when the user named an endpoint; otherwise obs may fall back to local files."""
        return any((self.endpoint, self.traces_endpoint, self.metrics_endpoint, self.logs_endpoint))

    @property
    def base_endpoint(self) -> str:
        return (self.endpoint or "http://localhost:4318").rstrip("/")

    def signal_endpoint(self, signal: Literal["traces", "metrics", "logs"]) -> str:
        """The full URL for one signal, as the OTLP/HTTP exporter specification builds it."""
        explicit = {
            "traces": self.traces_endpoint, "metrics": self.metrics_endpoint, "logs": self.logs_endpoint,
        }
        chosen = explicit[signal]
        if chosen:
            return chosen
        if self.protocol == "grpc":
            return self.endpoint or "http://localhost:4317"
        return f"{self.base_endpoint}/v1/{signal}"

    def telemetry_path(self) -> Path:
        path = Path(self.telemetry_dir)
        return path if path.is_absolute() else self.project_root / path

    def replace(self, **changes: Any) -> Settings:
        values = {name: getattr(self, name) for name in self._fields}
        values.update(changes)
        return Settings(**values)


def find_config_file(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` with a ``[tool.obs]`` table or ``obs.toml``, from ``start`` upwards.

    A ``pyproject.toml`` without ``[tool.obs]`` still marks the project root, so the search stops there.
    """
    for folder in (start, *start.parents):
        obs_toml = folder / "obs.toml"
        if obs_toml.is_file():
            return obs_toml
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            return pyproject
        if (folder / ".git").exists():
            return None
    return None


def _read_file_table(path: Path) -> _Tables:
    """Return ``(obs table, [project] table)``. A broken file is a SettingsError, never a traceback.

    Kept between processes while the file is unchanged (obs.agent._support.kept): tomllib and the parse
    cost every boot a few ms."""
    from obs.agent._support.kept import parse_once

    kept = parse_once("config", str(path.absolute()), lambda: list(_parse_file_table(path)))
    if isinstance(kept, list) and len(kept) == 2 and all(isinstance(part, dict) for part in kept):
        return kept[0], kept[1]
    return _parse_file_table(path)


def _parse_file_table(path: Path) -> _Tables:
    """tomllib is imported here, only when there is a file to read."""
    import tomllib

    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError("config file", str(path), f"cannot read it ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError("config file", str(path), f"not valid TOML ({error}); fix the syntax") from None
    project = document.get("project", {})
    project = project if isinstance(project, dict) else {}
    if path.name == "obs.toml":
        table = document.get("tool", {}).get("obs", document)
    else:
        table = document.get("tool", {}).get("obs", {})
        poetry = document.get("tool", {}).get("poetry", {})
        if not project and isinstance(poetry, dict):
            project = poetry
    if not isinstance(table, dict):
        raise SettingsError("tool.obs", str(path), "expected a table")
    return table, project


def _env_value(setting: Setting, environ: Mapping[str, str]) -> tuple[str, Any] | None:
    for name in setting.env:
        raw = environ.get(name)
        if raw is not None and raw.strip() != "":
            return name, raw
    if setting.name == "timeout":
        raw = environ.get("OTEL_EXPORTER_OTLP_TIMEOUT")
        if raw and raw.strip():
            try:
                return "OTEL_EXPORTER_OTLP_TIMEOUT", float(raw) / 1000.0
            except ValueError:
                return "OTEL_EXPORTER_OTLP_TIMEOUT", raw
    return None


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve every setting; raise SettingsError naming the first bad one and where it came from."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    unknown_overrides = sorted(set(overrides) - set(_BY_NAME))
    if unknown_overrides:
        raise SettingsError(unknown_overrides[0], "obs.init() arguments",
                            f"unknown setting; known ones are {', '.join(_BY_NAME)}")
    start = (cwd or Path.cwd()).resolve()
    config_file = find_config_file(start)
    file_table: dict[str, Any] = {}
    project: dict[str, Any] = {}
    if config_file is not None:
        file_table, project = _read_file_table(config_file)
        unknown = sorted(key for key in file_table if key not in _BY_NAME)
        if unknown:
            raise SettingsError(unknown[0], _describe_file(config_file),
                                f"unknown key; known keys are {', '.join(_BY_NAME)}")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        origin, raw = _pick(setting, overrides, environ, file_table, config_file)
        if origin == "default":
            values[setting.name] = setting.default
        else:
            try:
                values[setting.name] = setting.convert(raw)
            except TypeError as error:
                raise SettingsError(setting.name, origin, str(error)) from None
        sources[setting.name] = origin
    root = config_file.parent if config_file is not None else start
    if values["service_name"] is None:
        values["service_name"] = _project_name(project) or root.name or "app"
        sources["service_name"] = "project name"
    if values["service_version"] is None and isinstance(project.get("version"), str):
        values["service_version"] = project["version"]
    return Settings(**values, project_root=root, config_file=config_file, sources=sources)


def _pick(
    setting: Setting,
    overrides: Mapping[str, Any],
    environ: Mapping[str, str],
    file_table: Mapping[str, Any],
    config_file: Path | None,
) -> tuple[str, Any]:
    if setting.name in overrides and overrides[setting.name] is not None:
        return "obs.init() argument", overrides[setting.name]
    from_env = _env_value(setting, environ)
    if from_env is not None:
        return f"environment variable {from_env[0]}", from_env[1]
    if setting.name in file_table and config_file is not None:
        return _describe_file(config_file), file_table[setting.name]
    return "default", setting.default


def _describe_file(path: Path) -> str:
    return f"{path}" if path.name == "obs.toml" else f"[tool.obs] in {path}"


def _project_name(project: Mapping[str, Any]) -> str | None:
    name = project.get("name")
    return name if isinstance(name, str) and name.strip() else None
