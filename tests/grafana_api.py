"""A loopback stand-in for the part of Grafana's HTTP API that ``obs dashboards push`` uses.

No Grafana binary can be installed here, so this server answers the endpoints as Grafana 11 documents them
(``GET /api/frontend/settings``, ``GET/POST /api/folders``, ``POST /api/dashboards/db``, ``GET
/api/dashboards/uid/<uid>``), with Bearer-token auth, 401/404/412 errors, and versions that grow on each
save. The client side under test (grafana-client over real HTTP) is not replaced.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeGrafana", "fake_grafana"]


@dataclass
class FakeGrafana:
    """What the server holds: folders and dashboards by uid, and every request it served."""

    token: str
    url: str = ""
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)


def _handler(state: FakeGrafana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {state.token}":
                return True
            self._send(401, {"message": "Unauthorized"})
            return False

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length", "0"))
            return json.loads(self.rfile.read(length) or b"{}")

        def do_GET(self) -> None:
            state.requests.append(("GET", self.path))
            if not self._authorized():
                return
            if self.path == "/api/frontend/settings":
                self._send(200, {"buildInfo": {"version": "11.6.0"}})
            elif match := re.fullmatch(r"/api/folders/([\w-]+)", self.path):
                folder = state.folders.get(match.group(1))
                self._send(200, folder) if folder else self._send(404, {"message": "folder not found"})
            elif match := re.fullmatch(r"/api/dashboards/uid/([\w-]+)", self.path):
                saved = state.dashboards.get(match.group(1))
                self._send(200, saved) if saved else self._send(404, {"message": "Dashboard not found"})
            else:
                self._send(404, {"message": "Not found"})

        def do_POST(self) -> None:
            state.requests.append(("POST", self.path))
            if not self._authorized():
                return
            body = self._body()
            if self.path == "/api/folders":
                folder = {"uid": body["uid"], "title": body["title"], "id": len(state.folders) + 1}
                state.folders[body["uid"]] = folder
                self._send(200, folder)
            elif self.path == "/api/dashboards/db":
                self._save(body)
            else:
                self._send(404, {"message": "Not found"})

        def _save(self, body: dict[str, Any]) -> None:
            dashboard = body["dashboard"]
            uid = dashboard.get("uid")
            if body.get("folderUid") not in state.folders:
                self._send(400, {"message": "folder not found"})
                return
            previous = state.dashboards.get(uid)
            if previous and not body.get("overwrite"):
                self._send(
                    412, {"message": "A dashboard with the same uid already exists", "status": "name-exists"}
                )
                return
            version = previous["dashboard"]["version"] + 1 if previous else 1
            slug = re.sub(r"[^a-z0-9]+", "-", dashboard.get("title", "").lower()).strip("-")
            state.dashboards[uid] = {
                "dashboard": {**dashboard, "version": version},
                "meta": {"folderUid": body["folderUid"], "slug": slug},
            }
            self._send(200, {"status": "success", "uid": uid, "version": version, "url": f"/d/{uid}/{slug}"})

    return Handler


@contextmanager
def fake_grafana(token: str) -> Iterator[FakeGrafana]:
    """A running stand-in on a free loopback port; ``.url`` is its base URL."""
    state = FakeGrafana(token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
