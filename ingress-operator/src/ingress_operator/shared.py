"""What every ingress resource shares: the settings, the claims, the routing table and the agents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingress_operator.agents import Agents
    from ingress_operator.claims import Claims
    from ingress_operator.settings import IngressSettings
    from ingress_operator.table import RoutingTable


@dataclass(frozen=True)
class Shared:
    settings: IngressSettings
    claims: Claims
    table: RoutingTable
    agents: Agents
