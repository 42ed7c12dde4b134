"""The exact versions ``obs init`` adds to a project: one consistent OpenTelemetry release set.

``opentelemetry-bootstrap`` has asked for versions that do not exist (a distro 0.66b2 next to
instrumentations 0.66b1). obs pins each instrumentation to the ``opentelemetry-instrumentation`` release
obs-bootstrap itself is built against, read from obs-bootstrap's own metadata, plus obs-bootstrap itself.

obs-bootstrap is pinned the way it can be installed again elsewhere (a fresh environment, the user's Docker
build). PEP 610's ``direct_url.json`` tells how it was installed: absent, it came from an index, and
``obs-bootstrap==X`` resolves there; from a VCS URL or a remote archive, that URL is a direct reference that
resolves anywhere; from a local checkout or wheel file, nothing outside this machine can install it, so it is
not pinned and ``obs init`` says so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import metadata

from obs.detect import INSTRUMENTATION_PACKAGES

__all__ = ["DISTRIBUTION", "Pin", "instrumentation_release", "own_pin", "pins_for"]

DISTRIBUTION = "obs-bootstrap"


@dataclass(frozen=True, order=True)
class Pin:
    """A distribution at one exact version."""

    name: str
    version: str
    reference: str = ""
    """A PEP 508 direct reference (``git+https://...@commit``) to install instead of the version."""

    @property
    def requirement(self) -> str:
        return f"{self.name} @ {self.reference}" if self.reference else f"{self.name}=={self.version}"


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


def _installed() -> metadata.Distribution | None:
    """obs-bootstrap as pip installed it (an ``INSTALLER`` file), not a stray build ``.egg-info``."""
    found = list(metadata.distributions(name=DISTRIBUTION))
    return next((dist for dist in found if dist.read_text("INSTALLER")), found[0] if found else None)


def own_pin(dist: metadata.Distribution | None = None) -> tuple[Pin | None, str | None]:
    """(obs-bootstrap's pin, or None; a line for the user when it is not a plain index version)."""
    dist = dist if dist is not None else _installed()
    if dist is None:
        return None, f"{DISTRIBUTION} is not installed as a package: add it to your dependencies yourself"
    version = dist.version
    text = dist.read_text("direct_url.json")
    if text is None:
        return Pin(DISTRIBUTION, version), None
    try:
        origin = json.loads(text)
        url = str(origin["url"])
    except (ValueError, KeyError, TypeError):
        origin, url = {}, ""
    vcs = origin.get("vcs_info") if isinstance(origin, dict) else None
    if isinstance(vcs, dict) and vcs.get("vcs") and vcs.get("commit_id") and not url.startswith("file:"):
        reference = f"{vcs['vcs']}+{url}@{vcs['commit_id']}"
        return Pin(DISTRIBUTION, version, reference), f"{DISTRIBUTION} pinned to the commit it came from"
    if isinstance(origin, dict) and "archive_info" in origin and url.startswith(("https:", "http:")):
        return Pin(DISTRIBUTION, version, url), f"{DISTRIBUTION} pinned to the archive it came from"
    where = url.removeprefix("file://") or "a direct URL"
    return None, (
        f"{DISTRIBUTION} is not pinned: it was installed from {where}, which no package index serves — add "
        "it to your dependencies the way your builds can reach it"
    )


def pins_for(instrumentations: tuple[str, ...]) -> tuple[tuple[Pin, ...], tuple[str, ...], str | None]:
    """(obs-bootstrap where it can be pinned and the packages providing ``instrumentations``, names no known
    package provides, a line about obs-bootstrap's own pin or None)."""
    release = instrumentation_release()
    packages = {
        INSTRUMENTATION_PACKAGES[name] for name in instrumentations if name in INSTRUMENTATION_PACKAGES
    }
    unknown = tuple(name for name in instrumentations if name not in INSTRUMENTATION_PACKAGES)
    own, note = own_pin()
    pins = [*([own] if own is not None else []), *sorted(Pin(name, release) for name in packages)]
    return tuple(pins), unknown, note
