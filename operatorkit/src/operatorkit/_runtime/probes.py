"""The HTTP endpoints: ``/metrics`` (Prometheus), ``/healthz`` (alive, no stalled watch), ``/readyz`` (synced)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

log = logging.getLogger(__name__)

Check = Callable[[], str | None]  # None when fine, else what is wrong


def _parse_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "0.0.0.0", int(port)


class ProbeServer:
    """Serves metrics and probes; the same server can take both roles or two can split them (two addresses)."""

    def __init__(self, address: str, *, metrics: bool, healthz: Check | None, readyz: Check | None) -> None:
        checks = {"/healthz": healthz, "/livez": healthz, "/readyz": readyz}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if metrics and path == "/metrics":
                    self._reply(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
                    return
                check = checks.get(path)
                if check is None:
                    self._reply(404, b"not found\n")
                    return
                problem = check()
                if problem is None:
                    self._reply(200, b"ok\n")
                else:
                    self._reply(500, f"{problem}\n".encode())

            def _reply(self, code: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # probes every few seconds would drown the logs

        self._server = ThreadingHTTPServer(_parse_address(address), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"http-{self.port}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
