"""Build a tree of links that mirrors the installed ``obs`` package, for mypy (which ignores package-dir)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAPPED = {"agent": "agent", "dashboards": "dashboards", "collector": "collector"}


def main(target: str) -> None:
    tree = Path(target).resolve() / "obs"
    if tree.parent.exists():
        shutil.rmtree(tree.parent)
    tree.mkdir(parents=True)
    for entry in (ROOT / "obs").iterdir():
        if entry.name == "__pycache__":
            continue
        (tree / entry.name).symlink_to(entry)
    for name, folder in MAPPED.items():
        (tree / name).symlink_to(ROOT / folder)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".typecheck")
