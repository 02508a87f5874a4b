"""``python -m ingress_operator.agent.haproxy``: HAProxy on its own, apart from its agent (the chart's haproxy
container; the agent is the other container of the pod).

HAProxy's lifetime is not the agent's: the agent crashing, stalling, restarting or being upgraded changes nothing
for connections in flight or for the routes served. This process picks a configuration and then becomes HAProxy's
master (exec: HAProxy is the container's process and gets its signals), in master-worker mode with its master socket
in the state directory, where the agent finds it. The configuration is

* the files the agent last wrote there, when ``haproxy -c`` accepts them: a restarted container comes back with
  the routes it served;
* otherwise — before any agent wrote anything, or when what is there is refused — an empty one: the shared TLS and
  HTTP frontends without a route, which the agent fills in once it has read the routing table.

It takes the agent's flags (``--state-dir``, ``--haproxy``, ``--bind-address``, ``--tls-port``, ``--http-port``)
and ignores the others.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

from pydantic_settings import CliApp

from ingress_operator.agent import render
from ingress_operator.agent.settings import AgentSettings

if TYPE_CHECKING:
    from pathlib import Path


def prepare(settings: AgentSettings) -> list[str]:
    """Make sure the state directory holds a configuration HAProxy accepts; the command line that runs it."""
    state = settings.state_dir
    state.mkdir(parents=True, exist_ok=True)
    config = state / "haproxy.cfg"
    refused = _refused(settings.haproxy, config) if config.exists() else None
    if not config.exists() or refused:
        if refused:
            print(f"the configuration in {state} is refused, starting without routes: {refused}", flush=True)
        render.write_files(render.build(0, render.EMPTY, []), settings)
    else:
        print(f"starting with the configuration the agent last wrote in {state}", flush=True)
    return [settings.haproxy, "-W", "-db", "-S", f"{state / 'master.sock'},mode,600", "-f", str(config)]


def _refused(haproxy: str, config: Path) -> str | None:
    check = subprocess.run([haproxy, "-c", "-q", "-f", str(config)], capture_output=True, text=True, check=False)
    if check.returncode == 0:
        return None
    return (check.stdout + check.stderr).strip()[-500:] or f"haproxy -c exited with {check.returncode}"


def main() -> None:
    command = prepare(CliApp.run(AgentSettings))
    sys.stdout.flush()
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
