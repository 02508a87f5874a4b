"""Enough of the QEMU Machine Protocol to power a guest down: a JSON line exchange on QEMU's unix socket."""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path


class QMPError(RuntimeError):
    """QEMU answered a command with an error (its class and description)."""


class QMP:
    """One session: the greeting, capabilities negotiation, then :meth:`command` (events are skipped)."""

    def __init__(self, path: Path, timeout: float = 5.0) -> None:
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.settimeout(timeout)
        self._socket.connect(str(path))
        self._reader = self._socket.makefile("rb")
        self._read()  # {"QMP": {...}} greeting
        self.command("qmp_capabilities")

    def command(self, name: str, **arguments: Any) -> Any:
        message: dict[str, Any] = {"execute": name}
        if arguments:
            message["arguments"] = arguments
        self._socket.sendall(json.dumps(message).encode() + b"\n")
        while True:
            reply = self._read()
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise QMPError(f"{name}: {reply['error'].get('class')}: {reply['error'].get('desc')}")

    def _read(self) -> dict[str, Any]:
        line = self._reader.readline()
        if not line:
            raise ConnectionError("QEMU closed the QMP socket")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def close(self) -> None:
        self._reader.close()
        self._socket.close()
