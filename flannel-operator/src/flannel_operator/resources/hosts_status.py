"""Reports hosts ready / desired from the DaemonSet, and the HostsReady condition."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flannel_operator import key
from flannel_operator.spec import FlannelConfigSpec, FlannelConfigStatus
from operatorkit import Resource
from operatorkit.kinds import DAEMON_SET

if TYPE_CHECKING:
    from flannel_operator.spec import FlannelContext


@dataclass
class HostsStatus(Resource[FlannelConfigSpec, FlannelConfigStatus]):
    def ensure_created(self, ctx: FlannelContext) -> None:
        daemonset = ctx.cache(DAEMON_SET).get_by_name(key.DAEMON_SET, key.namespace(ctx.name))
        status = (daemonset or {}).get("status", {})
        desired, ready = int(status.get("desiredNumberScheduled", 0)), int(status.get("numberReady", 0))
        updated = int(status.get("updatedNumberScheduled", 0))
        current = (daemonset or {}).get("metadata", {}).get("generation") == status.get("observedGeneration")
        ctx.status["hostsDesired"], ctx.status["hostsReady"] = desired, ready
        if daemonset is not None and current and desired > 0 and ready == desired == updated:
            ctx.set_condition("HostsReady", "True", "AllHostsReady", f"{ready}/{desired} hosts")
        else:
            ctx.set_condition("HostsReady", "False", "Rolling", f"{ready}/{desired} hosts ready, {updated} updated")
