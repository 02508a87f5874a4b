"""The FlannelConfig's Ready condition, from what was checked: the allocation is recorded, this FlannelConfig
holds the network's claim in etcd and the config there is the one it wrote (EtcdNetworkConfig read it back), and
every selected host runs the network — the DaemonSet's pod Ready on each (HostsStatus). No host selected, or a
host whose flanneld cannot start (a crash loop), is not Ready, and says which host and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flannel_operator.resources.hosts_status import HOSTS_READY
from flannel_operator.spec import FlannelConfigSpec, FlannelConfigStatus
from operatorkit import READY, Resource, get_condition

if TYPE_CHECKING:
    from flannel_operator.spec import FlannelContext


@dataclass
class NetworkReady(Resource[FlannelConfigSpec, FlannelConfigStatus]):
    def ensure_created(self, ctx: FlannelContext) -> None:
        status = ctx.status
        ready, desired = status.hosts_ready or 0, status.hosts_desired or 0
        hosts = get_condition(status, HOSTS_READY) or {}
        if desired == 0 or ready < desired:
            ctx.set_condition(
                READY, "False", str(hosts.get("reason") or "HostsNotReady"), str(hosts.get("message") or "")
            )
            return
        ctx.set_condition(
            READY,
            "True",
            "NetworkConfigured",
            f"{status.network}, VNI {status.vni}, bridge {status.bridge}: config in etcd at "
            f"{status.etcd_key}; {ready}/{desired} hosts run it",
        )
