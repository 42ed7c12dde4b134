"""What every start would compute alike is kept between processes until its source changes
(obs.agent._support.kept): the instrumentations found on ``sys.path`` (a new or removed distribution is seen
at the next start) and the config file's tables (an edit is seen at the next boot). A folder someone else
may write in is not trusted, and a result made during a change is not kept.

Fake distributions and config files in ``tmp_path``; the agent's per-user folder is moved there through
``TMPDIR``.
"""

from __future__ import annotations

import datetime
import os
import sys
import time
from pathlib import Path

import pytest
from obs.agent._instrument import _scan, discover
from obs.agent._support.kept import SETTLE_S, parse_once, scan_once
from obs.agent.settings import SettingsError, load_settings

Row = tuple[str, ...]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))
    return temporary / f"obs-{os.getuid()}" / "kept"


def _dist(folder: Path, name: str, entry_points: str) -> None:
    info = folder / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "entry_points.txt").write_text(entry_points)


def _settled(path: Path, seconds_ago: float = 60.0) -> None:
    """As if the last change of ``path`` were ``seconds_ago`` old (past SETTLE_S)."""
    past = time.time() - seconds_ago - SETTLE_S
    os.utime(path, (past, past))


class Counted:
    """The scan the agent would make, counting its calls."""

    def __init__(self, folders: list[str]) -> None:
        self.folders = folders
        self.calls = 0

    def __call__(self) -> list[Row]:
        self.calls += 1
        return [(c.name, c.target, c.dist_path) for c in _scan(self.folders).values()]


def test_a_result_is_used_again_while_the_folders_are_unchanged(tmp_path: Path, store: Path) -> None:
    site = tmp_path / "site"
    _dist(site, "otel_inst_shop", "[opentelemetry_instrumentor]\nshop = otel_inst_shop:Shop\n")
    _settled(site)
    scan = Counted([str(site)])
    first = scan_once("instrumentors", scan.folders, scan)
    second = scan_once("instrumentors", scan.folders, scan)
    assert scan.calls == 1
    assert first == second == [("shop", "otel_inst_shop:Shop", str(site / "otel_inst_shop-1.0.dist-info"))]


def test_an_installed_or_removed_distribution_is_seen(tmp_path: Path, store: Path) -> None:
    """Installing adds a metadata folder (the folder holding it changes): the next start scans again."""
    site = tmp_path / "site"
    _dist(site, "otel_inst_shop", "[opentelemetry_instrumentor]\nshop = otel_inst_shop:Shop\n")
    _settled(site)
    scan = Counted([str(site)])
    assert [row[0] for row in scan_once("instrumentors", scan.folders, scan)] == ["shop"]
    _dist(site, "otel_inst_cart", "[opentelemetry_instrumentor]\ncart = otel_inst_cart:Cart\n")
    os.utime(site, (time.time() - 30, time.time() - 30))  # another time than the kept one
    assert sorted(row[0] for row in scan_once("instrumentors", scan.folders, scan)) == ["cart", "shop"]
    assert scan.calls == 2
    for leftover in (site / "otel_inst_shop-1.0.dist-info").iterdir():
        leftover.unlink()
    (site / "otel_inst_shop-1.0.dist-info").rmdir()
    os.utime(site, (time.time() - 20, time.time() - 20))
    assert [row[0] for row in scan_once("instrumentors", scan.folders, scan)] == ["cart"]
    assert scan.calls == 3


def test_a_folder_that_just_changed_is_scanned_every_time(tmp_path: Path, store: Path) -> None:
    """Within SETTLE_S of a folder's change, a second change in the same clock tick would go unseen."""
    site = tmp_path / "site"
    _dist(site, "otel_inst_shop", "[opentelemetry_instrumentor]\nshop = otel_inst_shop:Shop\n")
    os.utime(site)
    scan = Counted([str(site)])
    scan_once("instrumentors", scan.folders, scan)
    scan_once("instrumentors", scan.folders, scan)
    assert scan.calls == 2


def test_a_store_others_may_write_in_is_not_trusted(tmp_path: Path, store: Path) -> None:
    site = tmp_path / "site"
    _dist(site, "otel_inst_shop", "[opentelemetry_instrumentor]\nshop = otel_inst_shop:Shop\n")
    _settled(site)
    scan = Counted([str(site)])
    scan_once("instrumentors", scan.folders, scan)
    assert any(store.iterdir()), "the result was kept"
    store.chmod(0o777)
    for kept in store.iterdir():
        kept.write_text(kept.read_text().replace("otel_inst_shop:Shop", "planted:Class"))
    assert scan_once("instrumentors", scan.folders, scan)[0][1] == "otel_inst_shop:Shop"
    assert scan.calls == 2


def test_a_damaged_result_is_a_scan(tmp_path: Path, store: Path) -> None:
    site = tmp_path / "site"
    _dist(site, "otel_inst_shop", "[opentelemetry_instrumentor]\nshop = otel_inst_shop:Shop\n")
    _settled(site)
    scan = Counted([str(site)])
    scan_once("instrumentors", scan.folders, scan)
    for kept in store.iterdir():
        kept.write_text(kept.read_text().removesuffix("end"))
    assert scan_once("instrumentors", scan.folders, scan)[0][0] == "shop"
    assert scan.calls == 2


def test_discover_finds_the_same_as_a_fresh_scan(store: Path) -> None:
    """sys.path of this process, twice (the second from the kept result if the folders had settled)."""
    fresh = {name: (c.target, c.dist_path) for name, c in
             _scan([os.path.abspath(folder or os.curdir) for folder in sys.path]).items()}
    for _ in range(2):
        assert {name: (c.target, c.dist_path) for name, c in discover().items()} == fresh


def test_an_edited_config_file_is_read_again(tmp_path: Path, store: Path) -> None:
    """The settings from a kept parse of pyproject.toml equal a fresh one's; an edit is seen at once."""
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "shop"\nversion = "1.0"\n[tool.obs]\nenvironment = "staging"\n')
    _settled(pyproject)
    first = load_settings(environ={}, cwd=tmp_path)
    assert any(store.iterdir()), "the parse was kept"
    again = load_settings(environ={}, cwd=tmp_path)
    assert (again.service_name, again.service_version, again.environment) == ("shop", "1.0", "staging")
    assert (first.service_name, first.environment) == (again.service_name, again.environment)
    pyproject.write_text(pyproject.read_text().replace("staging", "production"))
    _settled(pyproject, seconds_ago=30.0)
    assert load_settings(environ={}, cwd=tmp_path).environment == "production"


def test_a_broken_config_file_is_said_every_time(tmp_path: Path, store: Path) -> None:
    """A parse that fails keeps nothing: the next boot says the same error."""
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[tool.obs\n")
    _settled(pyproject)
    for _ in range(2):
        with pytest.raises(SettingsError, match="not valid TOML"):
            load_settings(environ={}, cwd=tmp_path)
    assert not store.exists() or not any(store.iterdir())


def test_a_value_json_cannot_hold_is_parsed_every_time(tmp_path: Path, store: Path) -> None:
    """TOML dates have no JSON form: such a file is parsed at every boot, with the same result."""
    source = tmp_path / "dated.toml"
    source.write_text("x")
    _settled(source)
    calls: list[int] = []

    def parse() -> object:
        calls.append(1)
        return [{"released": datetime.date(2026, 12, 7)}, {}]

    for _ in range(2):
        assert parse_once("config", str(source), parse) == [{"released": datetime.date(2026, 12, 7)}, {}]
    assert len(calls) == 2
