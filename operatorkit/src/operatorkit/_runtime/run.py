"""``operatorkit.run``: the one entry point of an operator process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from pydantic_settings import CliApp

from operatorkit._base import logs
from operatorkit._base.client import KubeClient
from operatorkit._core.settings import OperatorSettings
from operatorkit._runtime.manager import Operator

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from operatorkit._core.controller import Controller

S = TypeVar("S", bound=OperatorSettings)


def load_settings(settings: type[S], argv: Sequence[str] | None = None) -> S:
    """Settings from the command line (``argv``, default ``sys.argv``), the environment and the defaults."""
    return CliApp.run(settings, cli_args=list(argv) if argv is not None else None)


def run(
    settings: type[S] | S,
    build: Callable[[S], Sequence[Controller[Any, Any]]],
    argv: Sequence[str] | None = None,
) -> int:
    """Parse the settings (a class: from the command line and environment), configure logging, build the
    controllers with ``build(settings)``, and run them until SIGTERM. Returns the process exit code.

    Workers, resync period, backoff and the per-object rate limit from the settings reach every controller;
    leader election, probes, metrics and graceful shutdown are wired here. An operator's ``__main__`` is::

        sys.exit(operatorkit.run(FlannelSettings, build))
    """
    parsed = load_settings(settings, argv) if isinstance(settings, type) else settings
    logs.configure(parsed.log_level, json_format=parsed.log_format == "json")
    client = KubeClient.load(parsed.kubeconfig)
    return Operator(build(parsed), parsed, client=client).run()
