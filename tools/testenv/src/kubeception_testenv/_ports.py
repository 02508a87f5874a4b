"""Free loopback ports, so parallel runs and leftover servers never collide."""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

_lock = threading.Lock()
_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now and that this process has not handed out before."""
    with _lock:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                port: int = sock.getsockname()[1]
            if port not in _handed_out:
                _handed_out.add(port)
                return port


def sticky_port(record: Path) -> int:
    """The port ``record`` names if it is still free, else a free one, recorded: a server restarted on kept state
    (``make demo`` after ``make down``) keeps its address, so what the cluster stored about it — the
    ``kubernetes`` Service's endpoints — stays true."""
    try:
        port: int | None = int(record.read_text())
    except (OSError, ValueError):
        port = None
    with _lock:
        if port is not None and port not in _handed_out and _bindable(port):
            _handed_out.add(port)
        else:
            port = None
    if port is None:
        port = free_port()
    record.write_text(str(port))
    return port


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
