"""obs.agent: runs inside the user's process and gives it traces, metrics and logs.

Importing this package is cheap: the OpenTelemetry SDK is loaded only when :func:`init` starts the agent.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing stays unloaded: `obs run` imports this before each start of the app
if TYPE_CHECKING:
    from typing import Any

__all__ = ["init", "shutdown"]


def init(**overrides: Any) -> bool:
    """Start the agent once per process; later calls do nothing. Returns True when the agent is running."""
    from obs.agent._lifecycle import start

    return start(overrides)


def shutdown() -> None:
    """Flush and stop the agent. Safe to call twice, or when it never started."""
    from obs.agent._lifecycle import stop

    stop()
