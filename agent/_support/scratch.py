"""The agent's own small files (exit deadlines, message markers, the instrumentations found): one folder per
user under the temporary folder, found without importing ``tempfile``.

Why not ``tempfile``: it loads ``shutil``, ``random`` and compression modules, a few ms in front of or at the
exit of a process that never needed them. Standard library only (``os``).
"""

from __future__ import annotations

import os

__all__ = ["private_folder", "temporary_folder", "user_folder"]


def temporary_folder() -> str:
    """The folder ``tempfile.gettempdir()`` names on POSIX (``TMPDIR``, ``TEMP``, ``TMP``, then ``/tmp``,
    ``/var/tmp``, ``/usr/tmp``): the first that exists. Unlike ``gettempdir`` it does not try writing there;
    every use here copes with a folder that refuses (each process then keeps to itself). Elsewhere than
    POSIX, ``tempfile``'s."""
    if os.name == "posix":
        for name in ("TMPDIR", "TEMP", "TMP"):
            folder = os.environ.get(name)
            if folder and os.path.isdir(folder):
                return os.path.abspath(folder)
        for folder in ("/tmp", "/var/tmp", "/usr/tmp"):
            if os.path.isdir(folder):
                return folder
    import tempfile

    return tempfile.gettempdir()


def user_folder(*parts: str) -> str:
    """``<temporary folder>/obs-<uid>/<parts>`` (not created here)."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return os.path.join(temporary_folder(), f"obs-{uid}", *parts)


def private_folder(folder: str) -> bool:
    """``folder`` exists, belongs to this user and nobody else may write in it: what it holds can be trusted
    as this user's own (a shared temporary folder lets anyone make ``obs-<uid>`` first)."""
    try:
        facts = os.stat(folder)
    except OSError:
        return False
    own = facts.st_uid == os.getuid() if hasattr(os, "getuid") else True
    return own and not facts.st_mode & 0o022
