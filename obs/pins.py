"""The exact versions ``obs init`` adds to a project: one consistent OpenTelemetry release set.

``opentelemetry-bootstrap`` has asked for versions that do not exist (a distro 0.66b2 next to
instrumentations 0.66b1). obs pins each instrumentation to the ``opentelemetry-instrumentation`` release
obs-bootstrap itself is built against, read from obs-bootstrap's own metadata, plus obs-bootstrap itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import metadata

from obs import __version__
from obs.detect import INSTRUMENTATION_PACKAGES

__all__ = ["DISTRIBUTION", "Pin", "instrumentation_release", "pins_for"]

DISTRIBUTION = "obs-bootstrap"


@dataclass(frozen=True, order=True)
class Pin:
    """A distribution at one exact version."""

    name: str
    version: str

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


@cache
def instrumentation_release() -> str:
    """The ``opentelemetry-instrumentation`` version obs-bootstrap pins (else the one installed)."""
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        requirements = []
    for requirement in requirements:
        match = re.fullmatch(
            r"opentelemetry-instrumentation\s*==\s*([^\s;,]+)", requirement.split(";")[0].strip()
        )
        if match:
            return match.group(1)
    return metadata.version("opentelemetry-instrumentation")


def pins_for(instrumentations: tuple[str, ...]) -> tuple[tuple[Pin, ...], tuple[str, ...]]:
    """(obs-bootstrap and the packages providing ``instrumentations``, names no known package provides)."""
    release = instrumentation_release()
    packages = {
        INSTRUMENTATION_PACKAGES[name] for name in instrumentations if name in INSTRUMENTATION_PACKAGES
    }
    unknown = tuple(name for name in instrumentations if name not in INSTRUMENTATION_PACKAGES)
    pins = [Pin(DISTRIBUTION, __version__), *sorted(Pin(name, release) for name in packages)]
    return tuple(pins), unknown
