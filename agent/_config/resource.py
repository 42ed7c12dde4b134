"""The resource: who emits the telemetry (service, version, environment, this process, this host).

Precedence, lowest first: detected host and process facts, then ``OTEL_RESOURCE_ATTRIBUTES``, then the obs
settings that were set on purpose (argument, ``OTEL_SERVICE_NAME``/``OBS_*``, ``[tool.obs]``). A setting that
only holds its default (service name from the project's name, environment ``development``) yields to
``OTEL_RESOURCE_ATTRIBUTES``, as the OpenTelemetry specification ranks them.

``service.instance.id`` comes from the SDK's per-process detector, so the id the SDK gives a forked child
(it refreshes it after fork) and ours are the same; :func:`process_facts` gives the pid attributes to merge
after fork.
"""

from __future__ import annotations

import os
import platform
import socket
import sys

from obs.agent.settings import Settings
from opentelemetry.sdk.resources import (
    OTELResourceDetector,
    Resource,
    ServiceInstanceIdResourceDetector,
)

__all__ = ["build_resource", "process_facts"]

_DEFAULT_SOURCES = ("default", "project name")


def process_facts() -> dict[str, str | int]:
    """Attributes that change with the process (after fork they must be read again)."""
    return {"process.pid": os.getpid(), "process.parent_pid": os.getppid()}


def _static_facts() -> dict[str, str | int]:
    executable = sys.executable or ""
    facts: dict[str, str | int] = {
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.distro.name": "obs",
        "host.name": socket.gethostname(),
        "host.arch": platform.machine(),
        "os.type": sys.platform,
        "process.runtime.name": sys.implementation.name,
        "process.runtime.version": ".".join(str(part) for part in sys.version_info[:3]),
        "process.executable.path": executable,
        "process.executable.name": os.path.basename(executable),
        "process.command": sys.orig_argv[0] if getattr(sys, "orig_argv", None) else "",
    }
    try:
        from opentelemetry.sdk.version import __version__ as sdk_version

        facts["telemetry.sdk.version"] = sdk_version
    except ImportError:
        pass
    try:
        from obs import __version__ as obs_version

        facts["telemetry.distro.version"] = obs_version
    except ImportError:
        pass
    return facts


def build_resource(settings: Settings) -> Resource:
    """The resource for every signal of this process."""
    chosen: dict[str, str] = {}
    defaults: dict[str, str] = {}
    pairs = (
        ("service.name", "service_name", settings.service_name),
        ("service.version", "service_version", settings.service_version),
        ("deployment.environment.name", "environment", settings.environment),
    )
    for attribute, name, value in pairs:
        if value is None:
            continue
        if settings.sources.get(name, "default") in _DEFAULT_SOURCES:
            defaults[attribute] = value
        else:
            chosen[attribute] = value
    detected = Resource({**_static_facts(), **process_facts()})
    instance = ServiceInstanceIdResourceDetector().detect()
    from_env = OTELResourceDetector().detect()
    # OTELResourceDetector also copies OTEL_SERVICE_NAME, which the settings already resolved (same value).
    return (
        detected.merge(Resource(defaults))
        .merge(instance)
        .merge(from_env)
        .merge(Resource(chosen))
    )
