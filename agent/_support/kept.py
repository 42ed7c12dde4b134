"""Results that every start of the app would compute the same way, kept between processes until what they
were made from changes: the instrumentations found on ``sys.path`` (:func:`scan_once`) and the tables of the
config file (:func:`parse_once`).

Why: every process of ``obs run`` looks for the installed instrumentations when it starts (one
``entry_points.txt`` read per distribution: a few ms in a venv of a hundred or so) and, when it boots,
imports ``tomllib`` and parses the project's ``pyproject.toml`` (a few ms more), and finds the same thing
each time. They are kept in the agent's per-user folder (obs.agent._support.scratch), with the modification
times they were made from, and used while those are unchanged:

- installing or removing a distribution adds or removes its metadata folder, which changes the modification
  time of the ``sys.path`` folder holding it. What this misses: an ``entry_points.txt`` rewritten in place
  in a metadata folder that stays (no installer does that; ``setup.py egg_info`` in a source folder on
  ``sys.path`` may);
- a config file is known by its path, modification time, size and inode.

A result is not kept while what it was made from changed less than :data:`SETTLE_S` ago (a second change in
the same tick of the file system's clock would go unseen). A result that cannot be read or written is made
again, never an error. Standard library only (``os``, ``time``; ``json`` for a parsed file).
"""

from __future__ import annotations

import os
import time

from obs.agent._support.scratch import private_folder, user_folder

TYPE_CHECKING = False  # loaded at every start of `obs run`: no typing
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

__all__ = ["SETTLE_S", "parse_once", "scan_once"]

FORMAT = "obs-kept 1"
SETTLE_S = 2.0
"""How old the last change of what a result was made from must be before the result is kept."""
_MAX_AGE_S = 7 * 86_400.0
Row = tuple[str, ...]


def scan_once(kind: str, folders: Sequence[str], scan: Callable[[], list[Row]]) -> list[Row]:
    """``scan()``'s rows (tuples of strings without tabs or line breaks), from the kept result when the
    ``folders`` (absolute) are as they were when it was made."""
    stamps = [_stamp(folder) for folder in folders]
    head = [FORMAT, kind, *(f"{folder}\t{stamp}" for folder, stamp in zip(folders, stamps, strict=True))]
    store, path = _where(kind, [kind, *folders])
    kept = _read(store, path, head)
    if kept is not None:
        return [tuple(line.split("\t")) for line in kept]
    rows = scan()
    if _settled(stamps) and all(_plain(part) for row in rows for part in row):
        _write(store, path, head, ["\t".join(row) for row in rows])
    return rows


def parse_once(kind: str, file: str, parse: Callable[[], Any]) -> Any:
    """``parse()``'s value (made of what JSON holds: no dates), from the kept one while ``file`` (absolute)
    is as it was when it was made. An exception of ``parse()`` goes to the caller, and nothing is kept."""
    stamp = _stamp(file)
    head = [FORMAT, kind, f"{file}\t{stamp}"]
    store, path = _where(kind, [kind, file])
    import json

    kept = _read(store, path, head)
    if kept is not None and len(kept) == 1:
        try:
            return json.loads(kept[0])
        except ValueError:
            pass
    value = parse()
    if _settled([stamp]):
        try:
            text = json.dumps(value, separators=(",", ":"))
        except (TypeError, ValueError):
            return value
        if json.loads(text) == value:
            _write(store, path, head, [text])
    return value


def _stamp(path: str) -> str:
    """``mtime_ns:size:inode`` (``-`` for a missing path)."""
    try:
        facts = os.stat(path)
    except OSError:
        return "-"
    return f"{facts.st_mtime_ns}:{facts.st_size}:{facts.st_ino}"


def _settled(stamps: Sequence[str]) -> bool:
    newest = max((int(stamp.partition(":")[0]) for stamp in stamps if stamp != "-"), default=0)
    return newest < time.time_ns() - int(SETTLE_S * 1e9)


def _fingerprint(text: str) -> str:
    """FNV-1a, 64 bits: a stable file name for a key (``hash()`` changes with every process)."""
    value = 0xCBF29CE484222325
    for byte in text.encode("utf-8", "surrogateescape"):
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def _where(kind: str, key: list[str]) -> tuple[str, str]:
    store = user_folder("kept")
    return store, os.path.join(store, f"{kind}-{_fingerprint(chr(10).join(key))}")


def _plain(part: str) -> bool:
    return "\t" not in part and "\n" not in part and "\r" not in part


def _read(store: str, path: str, head: list[str]) -> list[str] | None:
    """The body lines kept at ``path`` under exactly ``head``; None when there are none to trust."""
    if not private_folder(store):
        return None
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="\n") as file:
            lines = file.read().split("\n")
    except (OSError, ValueError):
        return None
    if lines[: len(head)] != head or lines[-1:] != ["end"]:
        return None
    return lines[len(head):-1]


def _write(store: str, path: str, head: list[str], body: list[str]) -> None:
    text = "\n".join([*head, *body, "end"])
    temporary = f"{path}.{os.getpid()}"
    try:
        os.makedirs(store, mode=0o700, exist_ok=True)
        if not private_folder(store):
            return
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(descriptor, text.encode("utf-8", "surrogateescape"))
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except OSError:
        _remove(temporary)
        return
    _sweep(store)


def _remove(path: str) -> None:
    """Without contextlib, which a process that never booted the agent has not loaded."""
    try:
        os.unlink(path)
    except OSError:
        return


def _sweep(store: str) -> None:
    """Results no longer used (another venv, another working folder) go after a week."""
    cutoff = time.time() - _MAX_AGE_S
    try:
        with os.scandir(store) as entries:
            for entry in entries:
                try:
                    if entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
                except OSError:
                    continue
    except OSError:
        return
