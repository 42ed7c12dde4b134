"""Where each signal goes: the settings plus the per-signal ``OTEL_EXPORTER_OTLP_<SIGNAL>_*`` variables.

The settings hold what applies to all signals; the OpenTelemetry specification also lets each signal override
its protocol, headers, timeout, compression and TLS files through the environment. This module resolves both
into one :class:`Route` per signal and rejects bad values with a :class:`SettingsError` that names the
variable. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from obs.agent.settings import HEADERS_PROBLEM, PROTOCOLS, Frozen, Settings, SettingsError, shown

__all__ = ["SIGNALS", "Route", "Signal", "resolve_routes"]

TYPE_CHECKING = False  # typing is for the type checker only
if TYPE_CHECKING:
    from typing import Final, Literal

    Signal = Literal["traces", "metrics", "logs"]
else:
    Signal = str
SIGNALS: Final[tuple[Signal, ...]] = ("traces", "metrics", "logs")
_DEFAULT_HTTP: Final = "http://localhost:4318"
_DEFAULT_GRPC: Final = "http://localhost:4317"
_COMPRESSIONS: Final = ("none", "gzip")


class Route(Frozen):
    """One signal's destination. ``exporter`` is otlp, file, console or none."""

    _fields = ("signal", "exporter", "protocol", "url", "headers", "timeout", "compression", "certificate",
               "client_certificate", "client_key", "may_fall_back")
    signal: Signal
    exporter: str
    protocol: str
    url: str
    headers: tuple[tuple[str, str], ...]
    timeout: float
    compression: str
    certificate: str | None
    client_certificate: str | None
    client_key: str | None
    may_fall_back: bool
    """True when nobody named an endpoint: if nothing answers at the default one, files take over."""

    def __init__(
        self,
        *,
        signal: Signal,
        exporter: str,
        protocol: str,
        url: str,
        headers: tuple[tuple[str, str], ...],
        timeout: float,
        compression: str,
        certificate: str | None,
        client_certificate: str | None,
        client_key: str | None,
        may_fall_back: bool,
    ) -> None:
        self._set(signal=signal, exporter=exporter, protocol=protocol, url=url, headers=headers,
                  timeout=timeout, compression=compression, certificate=certificate,
                  client_certificate=client_certificate, client_key=client_key, may_fall_back=may_fall_back)


def _variable(signal: Signal, suffix: str) -> str:
    return f"OTEL_EXPORTER_OTLP_{signal.upper()}_{suffix}"


def _pick(environ: Mapping[str, str], signal: Signal, suffix: str) -> tuple[str, str] | None:
    """The per-signal variable if set, else the all-signals one: ``(name, value)``."""
    for name in (_variable(signal, suffix), f"OTEL_EXPORTER_OTLP_{suffix}"):
        value = environ.get(name, "").strip()
        if value:
            return name, value
    return None


def _headers(raw: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    name, text = raw
    pairs = []
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise SettingsError(name, f"environment variable {name}",
                                HEADERS_PROBLEM)
        pairs.append((unquote(key.strip()), unquote(value.strip())))
    return tuple(sorted(pairs))


def _milliseconds(raw: tuple[str, str]) -> float:
    name, text = raw
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise SettingsError(name, f"environment variable {name}",
                            f"expected a number of milliseconds above 0, got {shown(text)}")
    return value / 1000.0


def _choice(raw: tuple[str, str], choices: tuple[str, ...]) -> str:
    name, text = raw
    value = text.strip().lower()
    if value not in choices:
        raise SettingsError(name, f"environment variable {name}",
                            f"expected one of {', '.join(choices)}, got {shown(text)}")
    return value


def _check_url(url: str, setting: str, settings: Settings) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        origin = settings.sources.get(setting, "settings")
        raise SettingsError(setting, origin, f"expected an http:// or https:// URL, got {shown(url)}")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        origin = settings.sources.get(setting, "settings")
        raise SettingsError(setting, origin, f"the port of {shown(url)} is not a number") from None
    return url


def _route(settings: Settings, signal: Signal, environ: Mapping[str, str]) -> Route:
    exporter = {"traces": settings.traces_exporter, "metrics": settings.metrics_exporter,
                "logs": settings.logs_exporter}[signal]
    protocol_raw = _pick(environ, signal, "PROTOCOL")
    protocol = _choice(protocol_raw, PROTOCOLS) if protocol_raw else settings.protocol
    explicit = {"traces": settings.traces_endpoint, "metrics": settings.metrics_endpoint,
                "logs": settings.logs_endpoint}[signal]
    if explicit:
        url = _check_url(explicit, f"{signal}_endpoint", settings)
    elif protocol == "grpc":
        url = _check_url(settings.endpoint, "endpoint", settings) if settings.endpoint else _DEFAULT_GRPC
    else:
        base = _check_url(settings.endpoint, "endpoint", settings) if settings.endpoint else _DEFAULT_HTTP
        url = f"{base.rstrip('/')}/v1/{signal}"
    headers = dict(settings.headers)
    signal_headers = environ.get(_variable(signal, "HEADERS"), "").strip()
    if signal_headers:
        headers.update(_headers((_variable(signal, "HEADERS"), signal_headers)))
    timeout_raw = environ.get(_variable(signal, "TIMEOUT"), "").strip()
    timeout = _milliseconds((_variable(signal, "TIMEOUT"), timeout_raw)) if timeout_raw else settings.timeout
    compression_raw = _pick(environ, signal, "COMPRESSION")
    files = {suffix: _pick(environ, signal, suffix)
             for suffix in ("CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY")}
    return Route(
        signal=signal,
        exporter=exporter,
        protocol=protocol,
        url=url,
        headers=tuple(sorted(headers.items())),
        timeout=timeout,
        compression=_choice(compression_raw, _COMPRESSIONS) if compression_raw else "none",
        certificate=files["CERTIFICATE"][1] if files["CERTIFICATE"] else None,
        client_certificate=files["CLIENT_CERTIFICATE"][1] if files["CLIENT_CERTIFICATE"] else None,
        client_key=files["CLIENT_KEY"][1] if files["CLIENT_KEY"] else None,
        may_fall_back=not explicit and not settings.endpoint,
    )


def resolve_routes(settings: Settings, environ: Mapping[str, str]) -> dict[Signal, Route]:
    """Every signal's route; raises SettingsError for the first bad value."""
    return {signal: _route(settings, signal, environ) for signal in SIGNALS}
