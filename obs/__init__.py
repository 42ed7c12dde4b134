"""obs: logs, metrics and traces for a Python app on day one.

``import obs; obs.init()`` instruments the running app; the ``obs`` command does the rest.
"""

from __future__ import annotations

from obs.agent import init, shutdown

__all__ = ["__version__", "init", "shutdown"]

__version__ = "0.1.0"
