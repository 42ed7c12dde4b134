"""LogQL and TraceQL parsed by Grafana's own Lezer grammars (npm ``@grafana/lezer-logql``/``-traceql``).

These are the grammars Grafana's query editors use. They run on the machine's Node.js; the first use
installs the pinned packages (``tests/lezer/package-lock.json``) into ``.tools/lezer`` with ``npm ci``.
Without ``node`` and ``npm`` the tests that need them are skipped, saying so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.tools import TOOLS

__all__ = ["parse_errors"]

SOURCE = Path(__file__).resolve().parent / "lezer"
INSTALL = TOOLS / "lezer"
_FILES = ("package.json", "package-lock.json", "parse.mjs")


def _installed() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to parse LogQL and TraceQL with Grafana's grammars")
    INSTALL.mkdir(parents=True, exist_ok=True)
    fresh = all(
        (INSTALL / name).is_file() and (INSTALL / name).read_bytes() == (SOURCE / name).read_bytes()
        for name in _FILES
    )
    if fresh and (INSTALL / "node_modules" / "@grafana" / "lezer-traceql").is_dir():
        return INSTALL
    for name in _FILES:
        shutil.copyfile(SOURCE / name, INSTALL / name)
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--silent"],
        cwd=INSTALL,
        check=True,
        timeout=300,
        stdout=subprocess.DEVNULL,
    )
    return INSTALL


def parse_errors(queries: Sequence[tuple[str, str]]) -> list[list[int]]:
    """For each ``(language, text)``, the offsets where the grammar found an error; [] for a clean parse."""
    folder = _installed()
    payload = json.dumps([{"language": language, "text": text} for language, text in queries])
    done = subprocess.run(
        ["node", "parse.mjs"],
        cwd=folder,
        input=payload,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [entry["errors"] for entry in json.loads(done.stdout)]
