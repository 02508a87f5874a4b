"""The flannel network config in the mother's etcd; rewritten only when its content changes, so subnet leases
(and the VMs' addresses) survive spec changes. Deleted — leases included — only after the hosts are clean."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flannel_operator.etcd import flannel_network_config
from operatorkit import Resource

if TYPE_CHECKING:
    from flannel_operator.settings import FlannelSettings
    from flannel_operator.spec import FlannelConfigSpec
    from operatorkit import Context


class EtcdNetworkConfig(Resource["FlannelConfigSpec"]):
    def __init__(self, settings: FlannelSettings) -> None:
        self.settings = settings

    def ensure_created(self, ctx: Context[FlannelConfigSpec]) -> None:
        config = flannel_network_config(ctx.status["network"], ctx.spec.subnet_len, ctx.status["vni"])
        if self.settings.etcd.write_config(ctx.spec.bridge, config):
            ctx.log.info("wrote network config to etcd")
        ctx.status["etcdKey"] = self.settings.etcd.config_key(ctx.spec.bridge)

    def ensure_deleted(self, ctx: Context[FlannelConfigSpec]) -> None:
        # What was recorded, not the spec: a spec that no longer validates must not block the cleanup.
        if bridge := ctx.status.get("bridge"):
            self.settings.etcd.delete_network(bridge)
