"""The request in progress in this context, for a failure logged while it runs (its route names the group).

Apart from the rest of :mod:`obs.agent._errors` so that the request path loads only ``contextvars``: a
request that does not fail sets and resets one context variable, nothing more.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

TYPE_CHECKING = False  # loaded on the request path: no typing until it is needed
if TYPE_CHECKING:
    from typing import Protocol

    class Operation(Protocol):
        """A request in progress: its span name so far (``METHOD route``)."""

        def operation(self) -> str: ...

__all__ = ["CURRENT", "current_operation", "enter_operation", "leave_operation"]

CURRENT: ContextVar[Operation | None] = ContextVar("obs_operation", default=None)
"""The request in progress; obs's request path calls its ``set`` and ``reset`` directly (no wrapper call)."""
_current = CURRENT


def enter_operation(operation: Operation) -> Token[Operation | None]:
    """``operation`` is in progress in this context until :func:`leave_operation`."""
    return _current.set(operation)


def leave_operation(token: Token[Operation | None]) -> None:
    _current.reset(token)


def current_operation() -> str:
    """The operation in progress here, or empty outside any."""
    operation = _current.get()
    return "" if operation is None else operation.operation()
