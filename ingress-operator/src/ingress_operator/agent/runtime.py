"""HAProxy's runtime API (the admin socket) and its master CLI (reloads), over their Unix sockets."""

from __future__ import annotations

import contextlib
import re
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

_OK = re.compile(r"^(|.*changed from .*|no need to change .*)$", re.DOTALL)
_RELOADS = re.compile(r"^\d+\s+master\s+(\d+)\s+\[failed:\s*(\d+)\]", re.MULTILINE)


class Refused(Exception):
    """HAProxy refused a runtime command; the message is HAProxy's."""


def _talk(path: Path, command: str, timeout: float = 10.0) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(command.encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)  # the master CLI answers only once the request is complete
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


class Runtime:
    def __init__(self, admin_socket: Path, master_socket: Path) -> None:
        self.admin_socket = admin_socket
        self.master_socket = master_socket
        self.commands = 0

    def run(self, command: str) -> str:
        """One command; raises :class:`Refused` with HAProxy's answer when it is not a success."""
        answer = _talk(self.admin_socket, command).strip()
        self.commands += 1
        if not _OK.match(answer):
            raise Refused(f"{command!r}: {answer}")
        return answer

    def set_servers(self, backend: str, servers: tuple[tuple[str, int], ...], slots: int) -> None:
        """Point the backend's first servers at ``servers``, put the rest in maintenance."""
        for index in range(slots):
            server = f"{backend}/s{index}"
            if index < len(servers):
                address, port = servers[index]
                self.run(f"set server {server} addr {address} port {port}")
                self.run(f"set server {server} state ready")
            else:
                self.run(f"set server {server} state maint")

    def reloads(self) -> tuple[int, int]:
        """The master's (reloads, failed reloads)."""
        match = _RELOADS.search(_talk(self.master_socket, "show proc"))
        if match is None:
            raise Refused("master CLI: no master line in 'show proc'")
        return int(match.group(1)), int(match.group(2))

    def reload(self) -> None:
        """Ask the master to reload (2.6 answers nothing and drops the connection: that is expected)."""
        with contextlib.suppress(ConnectionResetError):
            _talk(self.master_socket, "reload")

    def ready(self) -> bool:
        try:
            return _talk(self.admin_socket, "show info", timeout=2.0).startswith("Name:")
        except OSError:
            return False
