"""What ``obs check`` found: problems (each one line, with the fix) and notes on what it could not check."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["TOO_DEEP", "Finding", "Report"]

TOO_DEEP = "is nested too deeply to read (brackets or indentation hundreds of levels deep)"
"""The one line for a document that would overflow the parser's recursion (JSON or YAML)."""


@dataclass(frozen=True)
class Finding:
    """One problem in one file: ``path: problem — fix``."""

    path: str
    problem: str
    fix: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}" + (f" — {self.fix}" if self.fix else "")


@dataclass
class Report:
    """Findings and notes of one run over one observability/ folder."""

    root: Path
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: set[str] = field(default_factory=set)

    def relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def add(self, path: Path | str, problem: str, fix: str = "") -> None:
        name = path if isinstance(path, str) else self.relative(path)
        self.findings.append(Finding(name, problem, fix))

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def read_text(self, path: Path) -> str | None:
        """The file's text, or None after recording why it cannot be read."""
        self.checked.add(self.relative(path))
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            self.add(path, f"cannot be read ({error})", "make it a readable UTF-8 file")
            return None

    def load_yaml(self, path: Path) -> Any:
        """The parsed YAML document, or None after recording the syntax error."""
        text = self.read_text(path)
        if text is None:
            return None
        try:
            return yaml.safe_load(text)
        except RecursionError:
            self.add(path, TOO_DEEP, "flatten it, or regenerate it with `obs init`")
            return None
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(error, "problem", None) or "syntax error"
            self.add(path, f"is not valid YAML{where} ({problem})", "fix the YAML syntax")
            return None

    def require(self, path: Path, what: str) -> bool:
        """True when ``path`` exists; otherwise a finding that says it is missing."""
        if path.exists():
            return True
        self.add(path, f"is missing ({what})", "run `obs init` to generate it")
        return False
