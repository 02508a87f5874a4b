"""One real server process: started with its log in a file, waited on with a deadline, always stopped.

Children get ``PR_SET_PDEATHSIG`` so a harness killed with SIGKILL does not leave servers behind, and every
started server is also stopped at interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import time
import weakref
from typing import TYPE_CHECKING, Self

from operatorkit.testing import wait_until

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path
    from types import TracebackType

_PR_SET_PDEATHSIG = 1
_running: weakref.WeakSet[Server] = weakref.WeakSet()


class ServerError(RuntimeError):
    """A server failed to start or to become healthy; the message carries its log tail."""


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class StartStop:
    """``with thing:`` starts it and always stops it."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class Server(StartStop):
    """Base class of every managed server: subclasses give the command line and a health check."""

    name: str = "server"
    start_timeout: float = 60.0

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{self.name}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None  # how the process ended, once stopped

    # -- to override -------------------------------------------------------------------------------------
    def command(self) -> Sequence[str]:
        raise NotImplementedError

    def environment(self) -> Mapping[str, str]:
        return {}

    def healthy(self) -> bool:
        raise NotImplementedError

    # -- lifecycle -----------------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        """Start the process and block until it is healthy (or raise :class:`ServerError`)."""
        return self.launch().wait_healthy()

    def launch(self) -> Self:
        """Start the process without waiting, so several servers can come up side by side."""
        if self.running:
            return self
        with self.log_path.open("ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} starting: {' '.join(self.command())}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                list(self.command()),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env={**os.environ, **self.environment()},
                preexec_fn=_die_with_parent,
            )
        _running.add(self)
        return self

    def wait_healthy(self) -> Self:
        """Block until the launched process is healthy; stop it and raise :class:`ServerError` if not."""
        try:
            wait_until(self._healthy_or_exited, timeout=self.start_timeout, message=f"{self.name} to be healthy")
        except (TimeoutError, ServerError) as exc:
            self.stop()
            raise ServerError(f"{self.name} did not become healthy: {exc}\n{self.log_tail()}") from exc
        return self

    def _healthy_or_exited(self) -> bool:
        if self._proc is not None and (code := self._proc.poll()) is not None:
            raise ServerError(f"{self.name} exited with code {code}")
        return self.healthy()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; always reaps the process."""
        proc, self._proc = self._proc, None
        _running.discard(self)
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.returncode = proc.returncode

    def kill(self) -> None:
        """SIGKILL at once: for tests of crash recovery."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None
        _running.discard(self)

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets but answers nothing (a hung server, for stall tests)."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of this server's log, headed by its name."""
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except FileNotFoundError:
            text = ["(no log)"]
        return f"==> {self.log_path} <==\n" + "\n".join(text)


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        server.stop(timeout=5)
