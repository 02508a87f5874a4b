"""The FlannelConfig's Ready condition, from what was checked: the allocation is recorded, this FlannelConfig
holds the network's claim in etcd and the config there is the one it wrote (EtcdNetworkConfig read it back), and
the DaemonSet that runs the network on the hosts is in place. How many hosts run it is HostsReady."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flannel_operator.spec import FlannelConfigSpec, FlannelConfigStatus
from operatorkit import READY, Resource

if TYPE_CHECKING:
    from flannel_operator.spec import FlannelContext


@dataclass
class NetworkReady(Resource[FlannelConfigSpec, FlannelConfigStatus]):
    def ensure_created(self, ctx: FlannelContext) -> None:
        status = ctx.status
        ctx.set_condition(
            READY,
            "True",
            "NetworkConfigured",
            f"{status['network']}, VNI {status['vni']}, bridge {status['bridge']}: config in etcd at "
            f"{status['etcdKey']}; {status.get('hostsReady', 0)}/{status.get('hostsDesired', 0)} hosts run it",
        )
