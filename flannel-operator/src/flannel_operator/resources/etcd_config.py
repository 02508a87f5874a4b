"""The flannel network config in the mother's etcd; rewritten only when its content changes, so subnet leases
(and the VMs' addresses) survive spec changes. Deleted — leases included — only after the hosts are clean."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flannel_operator.etcd import flannel_network_config
from flannel_operator.spec import FlannelConfigSpec, FlannelConfigStatus
from operatorkit import Resource

if TYPE_CHECKING:
    from flannel_operator.shared import Shared
    from flannel_operator.spec import FlannelContext


@dataclass
class EtcdNetworkConfig(Resource[FlannelConfigSpec, FlannelConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: FlannelContext) -> None:
        etcd = self.shared.etcd
        config = flannel_network_config(ctx.status["network"], ctx.spec.subnet_len, ctx.status["vni"])
        if etcd.write_config(ctx.spec.bridge, config):
            ctx.log.info("wrote network config to etcd")
        ctx.status["etcdKey"] = etcd.config_key(ctx.spec.bridge)

    def ensure_deleted(self, ctx: FlannelContext) -> None:
        # What was recorded, not the spec: a spec that no longer validates must not block the cleanup.
        if ctx.recorded.bridge:
            self.shared.etcd.delete_network(ctx.recorded.bridge)
