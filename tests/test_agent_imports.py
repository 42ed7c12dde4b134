"""The post-import hook: a callback right after a watched module executed, invisible to everything else.

These tests import throwaway modules written to ``tmp_path`` in this process (the watcher is installed and
removed around each test; no agent starts).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType

import pytest
from obs.agent._support.import_hook import ImportWatcher, initializing, partially_imported


@pytest.fixture
def modules(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    before = set(sys.modules)
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in set(sys.modules) - before:
            del sys.modules[name]
        importlib.invalidate_caches()


@pytest.fixture
def seen() -> Iterator[list[tuple[str, ModuleType]]]:
    calls: list[tuple[str, ModuleType]] = []
    watcher = ImportWatcher(lambda name, module: calls.append((name, module)))
    watcher.watch({"watched_lib", "watched_pkg.sub", "broken_hook_lib"})
    watcher.install()
    try:
        yield calls
    finally:
        watcher.uninstall()


def test_callback_runs_after_the_module_executed(modules: Path, seen: list[tuple[str, ModuleType]]) -> None:
    """The callback gets the module once its code has run (its names exist), and only for watched names."""
    (modules / "watched_lib.py").write_text("VALUE = 42\n")
    (modules / "other_lib.py").write_text("VALUE = 1\n")
    import other_lib  # noqa: F401
    import watched_lib

    assert [name for name, _ in seen] == ["watched_lib"]
    assert seen[0][1] is watched_lib and seen[0][1].VALUE == 42


def test_loader_and_spec_are_the_real_ones(modules: Path, seen: list[tuple[str, ModuleType]]) -> None:
    """The module sees its real loader while it runs and afterwards (``__loader__`` and ``__spec__.loader``),
    so code that reads resources through it keeps working."""
    (modules / "watched_lib.py").write_text("LOADER_WHILE_RUNNING = type(__loader__).__name__\n")
    import watched_lib

    assert watched_lib.LOADER_WHILE_RUNNING == "SourceFileLoader"
    assert isinstance(watched_lib.__loader__, SourceFileLoader)
    assert isinstance(watched_lib.__spec__.loader, SourceFileLoader)


def test_submodules_can_be_watched(modules: Path, seen: list[tuple[str, ModuleType]]) -> None:
    """A dotted name (as ``urllib.request``) is reported when that submodule is imported."""
    package = modules / "watched_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "sub.py").write_text("X = 1\n")
    import watched_pkg.sub  # noqa: F401

    assert [name for name, _ in seen] == ["watched_pkg.sub"]


def test_a_failing_callback_never_breaks_the_import(
    modules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The import succeeds when the callback raises; the failure is one line on stderr."""
    def explode(name: str, module: ModuleType) -> None:
        raise RuntimeError("boom")

    watcher = ImportWatcher(explode)
    watcher.watch({"broken_hook_lib"})
    watcher.install()
    try:
        (modules / "broken_hook_lib.py").write_text("OK = True\n")
        import broken_hook_lib
    finally:
        watcher.uninstall()
    assert broken_hook_lib.OK
    assert "post-import hook for broken_hook_lib failed (RuntimeError: boom)" in capsys.readouterr().err


def test_missing_modules_still_raise(modules: Path, seen: list[tuple[str, ModuleType]]) -> None:
    """A watched name that is not installed raises ModuleNotFoundError as usual."""
    with pytest.raises(ModuleNotFoundError):
        import watched_lib  # noqa: F401
    assert seen == []


def test_partially_imported_names_the_module_still_executing(modules: Path) -> None:
    """An error met inside a circular import names the module that was still executing."""
    (modules / "circle_a.py").write_text(
        "import sys\nfrom obs.agent._support.import_hook import initializing, partially_imported\n"
        "try:\n    import circle_b\nexcept ImportError as error:\n"
        "    FOUND = partially_imported(error)\n    RUNNING = initializing('circle_a')\n"
    )
    (modules / "circle_b.py").write_text("from circle_a import MISSING\n")
    import circle_a

    assert frozenset({"circle_a"}) == circle_a.FOUND
    assert circle_a.RUNNING is True
    assert initializing("circle_a") is False
    assert partially_imported(ImportError("unrelated")) == frozenset()
