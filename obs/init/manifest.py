"""What ``obs init`` wrote last time, so a re-run can tell a user's edit from an outdated generated value.

Copier keeps its answers to re-render the old version; obs keeps less: the SHA-256 of each generated file,
the ``[tool.obs]`` values and the package pins it wrote, in ``<observability dir>/.obs-manifest.json``.
On a re-run a file (or value) that still matches the record was not touched by the user and is safe to
update; one that differs is the user's and stays (a conflict). Without a record, every difference is
treated as the user's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

__all__ = ["FILENAME", "Manifest", "digest", "read_manifest"]

FILENAME: Final = ".obs-manifest.json"
_FORMAT: Final = 1


def digest(data: bytes) -> str:
    """The SHA-256 of a file's bytes, as recorded."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Manifest:
    """Files (path under the observability dir -> SHA-256), settings and package pins obs last wrote."""

    files: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    packages: dict[str, str] = field(default_factory=dict)

    def render(self, generator: str) -> str:
        """Deterministic JSON (sorted keys, two-space indent, trailing newline)."""
        document = {
            "format": _FORMAT,
            "generator": generator,
            "note": "Written by `obs init` to tell your edits from its own; keep it with the folder.",
            "files": self.files,
            "settings": self.settings,
            "packages": self.packages,
        }
        return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(key): item for key, item in value.items() if isinstance(item, str)}


def read_manifest(path: Path) -> Manifest:
    """The record in ``path``; an absent or unreadable one is empty (every difference is the user's)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return Manifest()
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        return Manifest()
    settings = document.get("settings")
    return Manifest(
        files=_strings(document.get("files")),
        settings=dict(settings) if isinstance(settings, dict) else {},
        packages=_strings(document.get("packages")),
    )
