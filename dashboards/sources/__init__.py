"""The dashboards obs ships, as the source files a project gets in ``observability/dashboards/src/``.

Each module defines ``dashboard(settings)``, returning a grafanalib Dashboard (or None when it has nothing to
show for this project). Their text is copied into the project as is; obs builds the JSON from that text.
"""

from __future__ import annotations

__all__ = ["NAMES"]

NAMES = ("overview", "errors", "runtime", "dependencies", "tasks", "logs", "traces")
"""Every shipped dashboard, in the order the links list them."""
