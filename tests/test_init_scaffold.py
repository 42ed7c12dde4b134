"""The writer behind `obs init`: compare, then all-or-nothing atomic writes that keep file modes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from obs.errors import ProjectError, WriteError
from obs.init.manifest import digest
from obs.init.scaffold import Planned, apply, plan
from tests.init_helpers import without_dac_override


def _leftovers(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.name.endswith(".obs-tmp")]


def test_actions_follow_the_disk_and_the_record(tmp_path: Path) -> None:
    """create, identical, update (untouched since generated), conflict (user edit), overwrite (--force)."""
    (tmp_path / "same.txt").write_text("same\n")
    (tmp_path / "old.txt").write_text("generated v1\n")
    (tmp_path / "edited.txt").write_text("user's version\n")
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    files = [
        Planned(tmp_path / "new.txt", "new\n"),
        Planned(tmp_path / "same.txt", "same\n"),
        Planned(tmp_path / "old.txt", "generated v2\n", previous=digest(b"generated v1\n")),
        Planned(tmp_path / "edited.txt", "generated v2\n", previous=digest(b"generated v1\n")),
        Planned(tmp_path / "pyproject.toml", "[project]\n[tool.obs]\n", edited=True),
    ]
    assert [step.action for step in plan(files, force=False)] == [
        "create", "identical", "update", "conflict", "update",
    ]
    assert [step.action for step in plan(files, force=True)][3] == "overwrite"


def test_apply_writes_only_what_changes_and_keeps_modes(tmp_path: Path) -> None:
    """Identical and conflicting files are not touched; a rewritten file keeps its permission bits."""
    script = tmp_path / "run.sh"
    script.write_text("echo 1\n")
    script.chmod(0o750)
    kept = tmp_path / "kept.txt"
    kept.write_text("mine\n")
    before = kept.stat().st_mtime_ns
    steps = plan(
        [
            Planned(script, "echo 2\n", edited=True),
            Planned(kept, "generated\n"),
            Planned(tmp_path / "deep/er/new.txt", "new\n"),
        ],
        force=False,
    )
    written = apply(steps)
    assert [step.planned.path.name for step in written] == ["run.sh", "new.txt"]
    assert script.read_text() == "echo 2\n"
    assert stat.S_IMODE(script.stat().st_mode) == 0o750
    assert kept.read_text() == "mine\n" and kept.stat().st_mtime_ns == before
    assert (tmp_path / "deep/er/new.txt").read_text() == "new\n"
    assert _leftovers(tmp_path) == []


def test_failure_while_staging_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk error on the third file: the first two are not replaced, no temp file or new folder stays."""
    first = tmp_path / "a.txt"
    first.write_text("old a\n")
    calls = {"count": 0}
    real_fsync = os.fsync

    def failing_fsync(fd: int) -> None:
        calls["count"] += 1
        if calls["count"] == 3:
            raise OSError(28, "No space left on device", str(tmp_path / "new/c.txt"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    steps = plan(
        [
            Planned(first, "new a\n"),
            Planned(tmp_path / "b.txt", "b\n"),
            Planned(tmp_path / "new/c.txt", "c\n"),
        ],
        force=True,
    )
    with pytest.raises(WriteError, match="No space left on device"):
        apply(steps)
    assert first.read_text() == "old a\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.txt"]


def test_interrupt_while_staging_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C during the writes leaves the old file whole and no staged temp files behind."""
    target = tmp_path / "config.yaml"
    target.write_text("old\n")
    real_fsync = os.fsync
    calls = {"count": 0}

    def interrupted(fd: int) -> None:
        calls["count"] += 1
        if calls["count"] == 2:
            raise KeyboardInterrupt
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", interrupted)
    steps = plan([Planned(target, "new\n"), Planned(tmp_path / "other.yaml", "x\n")], force=True)
    with pytest.raises(KeyboardInterrupt):
        apply(steps)
    assert target.read_text() == "old\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["config.yaml"]


_PLAN_AND_APPLY = """
import sys
from pathlib import Path

from obs.errors import WriteError
from obs.init.scaffold import Planned, apply, plan

root = Path(sys.argv[1])
steps = plan([Planned(root / "a.txt", "a\\n"), Planned(root / "locked" / "b.txt", "b\\n")], force=False)
try:
    apply(steps)
except WriteError as error:
    print(f"WriteError: {error}")
else:
    print("written")
"""
"""plan + apply in a process of its own, so that it can run without root's CAP_DAC_OVERRIDE."""


def test_unwritable_folder_is_refused_before_any_write(tmp_path: Path) -> None:
    """A read-only folder is named before the first write; other targets stay untouched.

    The writer runs in a child process; as root, without CAP_DAC_OVERRIDE (:func:`without_dac_override`), so
    that the folder's mode bits bind as they do for any other user.
    """
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = subprocess.run(
            [*without_dac_override(), sys.executable, "-c", _PLAN_AND_APPLY, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("WriteError: "), result.stdout
        assert "permission denied" in result.stdout
        assert str(locked) in result.stdout
        assert not (tmp_path / "a.txt").exists()
        assert not (locked / "b.txt").exists()
    finally:
        locked.chmod(0o700)


def test_folder_where_a_file_is_expected_is_refused(tmp_path: Path) -> None:
    """A target path that is a folder is one clear error at comparison time."""
    (tmp_path / "compose.yaml").mkdir()
    with pytest.raises(ProjectError, match="is a folder"):
        plan([Planned(tmp_path / "compose.yaml", "x\n")], force=False)
