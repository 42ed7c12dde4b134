"""No endpoint configured: is a collector answering on the default one? If not, local files take over.

The question is asked once per process, on an export thread when the first batch is ready (never on the
app's start-up path), with a short TCP connect. Workers forked after the answer inherit it.
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

from obs.agent._export.tcp import connect
from obs.agent._support.fork import VOICE, at_fork

__all__ = ["collector_answers", "known_answer", "reset_after_fork"]

_PROBE_TIMEOUT_S = 0.3

_answers: dict[tuple[str, int], bool] = {}
_lock = threading.Lock()


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "localhost", parts.port or (443 if parts.scheme == "https" else 80)


def known_answer(url: str) -> bool | None:
    """What :func:`collector_answers` found for ``url``, without asking; None while nobody asked."""
    return _answers.get(_address(url))


def collector_answers(url: str) -> bool:
    """True when something accepts TCP connections at ``url``'s host and port (asked once per process)."""
    address = _address(url)
    with _lock:
        known = _answers.get(address)
        if known is not None:
            return known
        try:
            with connect(*address, timeout=_PROBE_TIMEOUT_S):
                answer = True
        except OSError:
            answer = False
        _answers[address] = answer
        return answer


def reset_after_fork() -> None:
    global _lock
    _lock = threading.Lock()


at_fork(VOICE, after_in_child=reset_after_fork)
