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
_ADMIN_MAINT = 0x01 | 0x02 | 0x20
"""srv_admin_state bits of a server in maintenance: forced (``set server … state maint``), inherited, or its
address unresolved. 0x04 only records that the configuration said ``disabled``."""


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

    # -- what HAProxy serves (read back after the agent restarts: HAProxy outlives it) -------------------------
    def map_entries(self, path: Path) -> dict[str, str]:
        """``show map``: one ``<ref> <key> <value>`` line per entry."""
        entries = {}
        for line in _talk(self.admin_socket, f"show map {path}").splitlines():
            fields = line.split()
            if len(fields) == 3 and fields[0].startswith("0x"):
                entries[fields[1]] = fields[2]
            elif line.strip():
                raise Refused(f"show map {path}: {line.strip()}")
        return entries

    def servers(self) -> dict[str, list[tuple[str, int, bool]]]:
        """Each backend's server slots in order: address, port, and whether it takes traffic (not in
        maintenance). From ``show servers state`` (format 1: be_id be_name srv_id srv_name srv_addr srv_op_state
        srv_admin_state … srv_port at 18)."""
        found: dict[str, list[tuple[int, str, int, bool]]] = {}
        lines = _talk(self.admin_socket, "show servers state").splitlines()
        if not lines or lines[0].strip() != "1":
            raise Refused(f"show servers state: format {lines[:1]}")
        for line in lines[1:]:
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            backend, slot, address, admin, port = fields[1], int(fields[2]), fields[4], int(fields[6]), fields[18]
            found.setdefault(backend, []).append((slot, address, int(port), not admin & _ADMIN_MAINT))
        return {backend: [s[1:] for s in sorted(slots)] for backend, slots in found.items()}

    def frontends(self) -> list[str]:
        """The names of the frontends (``show stat`` of frontends only: proxy -1, type 1, server -1)."""
        names = []
        for line in _talk(self.admin_socket, "show stat -1 1 -1").splitlines():
            fields = line.split(",")
            if len(fields) > 1 and fields[1] == "FRONTEND":
                names.append(fields[0])
        return names

    def ready(self) -> bool:
        try:
            return _talk(self.admin_socket, "show info", timeout=2.0).startswith("Name:")
        except OSError:
            return False
