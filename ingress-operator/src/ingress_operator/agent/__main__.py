"""``python -m ingress_operator.agent``: the agent that keeps a running HAProxy serving the routing table."""

from __future__ import annotations

import logging
import signal
import sys

from pydantic_settings import CliApp

from ingress_operator.agent.agent import Agent, serve_status
from ingress_operator.agent.settings import AgentSettings
from operatorkit import KubeClient


def main() -> int:
    settings = CliApp.run(AgentSettings)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    agent = Agent(settings, KubeClient.load(settings.kubeconfig))
    server = serve_status(agent, settings.status_address)
    signal.signal(signal.SIGTERM, lambda *_: agent.stop())
    try:
        return agent.run()
    finally:
        server.shutdown()


sys.exit(main())
