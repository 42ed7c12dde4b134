"""How `obs init` pins obs-bootstrap itself: by version only when it came from an index (PEP 610).

Each case is a real ``.dist-info`` folder read through importlib.metadata, as pip leaves it: no
``direct_url.json`` after an index install, one describing the checkout, wheel file or repository otherwise.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest

from obs.init.pins import Pin, own_pin


def _dist(tmp_path: Path, direct_url: dict[str, object] | None) -> metadata.Distribution:
    info = tmp_path / "obs_bootstrap-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: obs-bootstrap\nVersion: 1.2.3\n", encoding="utf-8"
    )
    (info / "INSTALLER").write_text("pip\n", encoding="utf-8")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url), encoding="utf-8")
    return metadata.PathDistribution(info)


def test_from_an_index_it_is_pinned_to_its_version(tmp_path: Path) -> None:
    """No direct_url.json: an index served it, so `obs-bootstrap==1.2.3` resolves there again."""
    pin, note = own_pin(_dist(tmp_path, None))
    assert pin == Pin("obs-bootstrap", "1.2.3")
    assert pin.requirement == "obs-bootstrap==1.2.3"
    assert note is None


@pytest.mark.parametrize(
    ("direct_url", "where"),
    [
        ({"url": "file:///home/me/obs", "dir_info": {"editable": True}}, "/home/me/obs"),
        ({"url": "file:///home/me/obs", "dir_info": {}}, "/home/me/obs"),
        (
            {"url": "file:///tmp/dist/obs_bootstrap-1.2.3-py3-none-any.whl", "archive_info": {}},
            "/tmp/dist/obs_bootstrap-1.2.3-py3-none-any.whl",
        ),
    ],
    ids=["editable checkout", "checkout", "wheel file"],
)
def test_from_a_local_checkout_or_wheel_it_is_not_pinned_and_a_line_says_why(
    tmp_path: Path, direct_url: dict[str, object], where: str
) -> None:
    """A local path resolves on no other machine: no pin (pip install -r would fail), and a line naming it."""
    pin, note = own_pin(_dist(tmp_path, direct_url))
    assert pin is None
    assert note == (
        f"obs-bootstrap is not pinned: it was installed from {where}, which no package index serves — add it "
        "to your dependencies the way your builds can reach it"
    )


def test_from_a_repository_it_is_pinned_to_the_commit(tmp_path: Path) -> None:
    """A VCS install becomes a PEP 508 direct reference to the exact commit."""
    pin, note = own_pin(
        _dist(
            tmp_path,
            {
                "url": "https://git.example.com/team/obs.git",
                "vcs_info": {"vcs": "git", "commit_id": "0a1b2c3"},
            },
        )
    )
    assert pin is not None
    assert pin.requirement == "obs-bootstrap @ git+https://git.example.com/team/obs.git@0a1b2c3"
    assert note == "obs-bootstrap pinned to the commit it came from"


def test_from_a_remote_archive_it_is_pinned_to_that_url(tmp_path: Path) -> None:
    """An archive downloaded from a URL is referenced by that URL."""
    url = "https://files.example.com/obs_bootstrap-1.2.3-py3-none-any.whl"
    pin, _ = own_pin(_dist(tmp_path, {"url": url, "archive_info": {"hashes": {}}}))
    assert pin is not None and pin.requirement == f"obs-bootstrap @ {url}"
