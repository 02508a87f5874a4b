"""The flannel network config in the mother's etcd, under a prefix this FlannelConfig claims first.

The claim (``<prefix>/<bridge>/owner``) is created in one etcd transaction before anything is written; the config
is rewritten only when its content changes, so subnet leases (and the VMs' addresses) survive spec changes; and
everything under the prefix — leases included — is deleted only by the claim's holder, after the hosts are
clean. A prefix someone else claims is never touched: the condition names the holder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flannel_operator.etcd import flannel_network_config
from flannel_operator.spec import FLANNEL_CONFIG, FlannelConfigSpec, FlannelConfigStatus
from operatorkit import NotOwned, Owner, Resource, check_claim, required

if TYPE_CHECKING:
    from flannel_operator.shared import Shared
    from flannel_operator.spec import FlannelContext


@dataclass
class EtcdNetworkConfig(Resource[FlannelConfigSpec, FlannelConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: FlannelContext) -> None:
        etcd, bridge = self.shared.etcd, required(ctx.status.bridge, "bridge")
        claim_network(self.shared, ctx, bridge)
        network, vni = required(ctx.status.network, "network"), required(ctx.status.vni, "vni")
        config = flannel_network_config(network, ctx.spec.subnet_len, vni)
        if etcd.write_config(bridge, config):
            ctx.log.info("wrote network config to etcd")
        ctx.status.etcd_key = etcd.config_key(bridge)

    def ensure_deleted(self, ctx: FlannelContext) -> None:
        # What was recorded, not the spec: a spec that no longer validates must not block the cleanup.
        bridge = ctx.recorded.bridge
        if bridge and owns_network(self.shared, ctx, bridge):
            self.shared.etcd.delete_network(bridge)


def _holder_exists(shared: Shared, ctx: FlannelContext, holder: Owner) -> bool:
    if holder.kind != FLANNEL_CONFIG.kind:
        return True  # not ours to judge: never taken over
    current = ctx.cache(FLANNEL_CONFIG).get_by_name(holder.name)
    return current is not None and current["metadata"].get("uid") == holder.uid


def claim_network(shared: Shared, ctx: FlannelContext, bridge: str) -> None:
    """Make this FlannelConfig the recorded owner of the network on ``bridge``, or raise NotOwned naming the
    holder. A network written by an earlier operator version without a claim is taken over only by the
    FlannelConfig whose status recorded it."""
    etcd, me = shared.etcd, ctx.owner.encode()
    what = f"etcd network {etcd.prefix(bridge)}"
    current = etcd.read_claim(bridge)
    if current is None:
        if etcd.read_config(bridge) is not None and ctx.recorded.etcd_key != etcd.config_key(bridge):
            raise NotOwned(f"{what} exists and was not created for this FlannelConfig; it is left untouched")
        if etcd.create_claim(bridge, me):
            return
        current = etcd.read_claim(bridge)  # someone claimed it in between
    holder = Owner.decode(current)
    exists = holder is not None and _holder_exists(shared, ctx, holder)
    if check_claim(current, what, ctx.obj, owner_exists=exists) and current != me:
        assert current is not None
        if not etcd.replace_claim(bridge, current, me):
            raise NotOwned(f"{what} changed hands while this FlannelConfig adopted it; trying again")
        ctx.event("Normal", "Adopted", f"took over {what} from {holder}, which no longer exists")


def owns_network(shared: Shared, ctx: FlannelContext, bridge: str, *, quiet: bool = False) -> bool:
    """Whether this FlannelConfig may tear the network on ``bridge`` down: it holds the claim (or, from an earlier
    version, no claim exists and its status recorded the config). Otherwise say why it is left alone (unless
    ``quiet``: a step that only asks, before the one that would have deleted it)."""
    etcd = shared.etcd
    current = etcd.read_claim(bridge)
    if current is None:
        return ctx.recorded.etcd_key == etcd.config_key(bridge)
    holder = Owner.decode(current)
    if holder is not None and holder.uid == ctx.owner.uid:
        return True
    if not quiet:
        ctx.event("Warning", "NotDeleted", f"etcd network {etcd.prefix(bridge)} belongs to {holder}; left untouched")
    return False
