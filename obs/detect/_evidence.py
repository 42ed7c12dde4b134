"""What detection found and where: the records every reader produces and the report prints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Declared", "Imported", "Origin"]

Origin = Literal["runtime", "development"]


@dataclass(frozen=True)
class Declared:
    """One dependency declared by the project: ``flask>=3.0`` at pyproject.toml line 9."""

    name: str
    """The distribution name, normalised (PEP 503)."""
    text: str
    """The requirement as written, for the report."""
    path: str
    """File, relative to the project root."""
    line: int
    """1-based; 0 when the line could not be told."""
    section: str
    """Where in the file: ``[project.dependencies]``, ``install_requires``, ..."""
    origin: Origin = "runtime"

    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass(frozen=True)
class Imported:
    """One import in the project's source: ``import flask`` at src/shop/__init__.py line 3."""

    module: str
    """Dotted module name as imported, or ``package.name`` for ``from package import name``."""
    path: str
    line: int

    def where(self) -> str:
        return f"{self.path}:{self.line}"
