"""The bridge setup and host cleanup scripts, as a ConfigMap the DaemonSet and the cleanup Jobs mount, with the
cluster's confinement table (flannel_operator.confinement): the bridge container loads it before the bridge exists
and re-asserts it while it runs; the cleanup Job removes it after the bridge."""

from __future__ import annotations

import hashlib
import ipaddress
from typing import TYPE_CHECKING

from flannel_operator import confinement, key
from flannel_operator.resources._object import ClusterObject
from operatorkit import required
from operatorkit.kinds import CONFIG_MAP

if TYPE_CHECKING:
    from flannel_operator.settings import FlannelSettings
    from flannel_operator.spec import FlannelContext
    from operatorkit import Object

BRIDGE_SETUP = r"""#!/bin/sh
# Confine the cluster's bridge, then create it once flanneld has leased this host's subnet, and keep both.
set -eu
# PID 1 ignores signals it has no handler for: without the trap, every pod would wait out its grace period. The
# confinement table stays when the pod stops: a VM on the bridge is never left unconfined (the cleanup Job removes it).
trap 'exit 0' TERM INT
env_file=/run/flannel/${BRIDGE}.env
# The lease, validated (it is pasted into nft's input), then the table: replaced as a whole, in one transaction.
confine() {
  . "$env_file"
  # One line of digits, dots and a slash (grep alone would pass a second line: nft would run it as a command).
  subnet_ok=false
  case "${FLANNEL_SUBNET:-}" in
    '' | *[!0-9./]*) ;;
    *) printf '%s\n' "$FLANNEL_SUBNET" | grep -Eqx '([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}' && subnet_ok=true ;;
  esac
  if [ "$subnet_ok" != true ]; then
    echo "FLANNEL_SUBNET in $env_file is not an IPv4 address/prefix: no confinement, no bridge" >&2
    return 1
  fi
  if ! { printf 'define lease = %s\n' "$FLANNEL_SUBNET"; cat /scripts/confinement.nft; } | nft -f -; then
    echo "the confinement table of $BRIDGE could not be applied: no bridge" >&2
    return 1
  fi
}
until [ -s "$env_file" ]; do sleep 1 & wait; done
confine || exit 1
# A link of that name that is no bridge (the host's own interface) is not ours: say so and fail (the pod's reason).
if ip link show "$BRIDGE" >/dev/null 2>&1; then
  if ! ip -d link show "$BRIDGE" | grep -q '^ *bridge '; then
    echo "link $BRIDGE exists on this host and is not a bridge: left untouched" >&2
    exit 1
  fi
else
  ip link add "$BRIDGE" type bridge
fi
ip addr replace "${FLANNEL_SUBNET}" dev "$BRIDGE"
ip link set "$BRIDGE" mtu "${FLANNEL_MTU}" up
# Validated addresses and names, one per word: split on spaces only, never expanded as patterns.
set -f
printf '%s\n' $DNS_SERVERS > "/run/flannel/${BRIDGE}.dns"
printf '%s\n' $NTP_SERVERS > "/run/flannel/${BRIDGE}.ntp"
# Re-asserted: a table deleted or changed on the host, or a new lease, is repaired within a period.
while true; do
  sleep "${CONFINE_PERIOD:-30}" & wait
  confine || exit 1
done
"""

CLEANUP = r"""#!/bin/sh
# Remove the cluster's bridge, VXLAN device and confinement table from this host (idempotent).
set -u
# Only what flannel made: the bridge if it is a bridge, the VXLAN device if it carries this cluster's VNI.
if ip -d link show "$BRIDGE" 2>/dev/null | grep -q '^ *bridge '; then
  ip link delete "$BRIDGE" || true
fi
if ip -d link show "flannel.${VNI}" 2>/dev/null | grep -q "^ *vxlan id ${VNI} "; then
  ip link delete "flannel.${VNI}" || true
fi
# The table after the bridge (no VM is left unconfined); it names this cluster's table only. A failure fails the
# Job, which is retried.
nft -f /scripts/confinement-removal.nft || exit 1
rm -f "/run/flannel/${BRIDGE}.env" "/run/flannel/${BRIDGE}.dns" "/run/flannel/${BRIDGE}.ntp"
rm -rf "/run/flannel/${BRIDGE}.vms"  # the VMs' address claims (kvm-operator's launcher)
"""


def scripts(ctx: FlannelContext, settings: FlannelSettings) -> dict[str, str]:
    """The ConfigMap's data: both scripts, the cluster's confinement table (without the host's lease: the bridge
    container defines ``$lease``) and its removal."""
    bridge, vni = required(ctx.status.bridge, "bridge"), required(ctx.status.vni, "vni")
    policy = confinement.policy(
        bridge=bridge,
        vxlan=key.vxlan_device(vni),
        network=ipaddress.IPv4Network(required(ctx.status.network, "network")),
        lease=None,
        plan=settings.platform,
        dns=ctx.spec.dns.servers,
        ntp=ctx.spec.ntp.servers,
    )
    return {
        "bridge-setup.sh": BRIDGE_SETUP,
        "cleanup.sh": CLEANUP,
        "confinement.nft": confinement.script(policy),
        "confinement-removal.nft": confinement.removal(bridge),
    }


def scripts_hash(data: dict[str, str]) -> str:
    """What the DaemonSet's pod template carries, so a change of any script or of the table rolls its pods."""
    return hashlib.sha256(repr(sorted(data.items())).encode()).hexdigest()[:16]


class BridgeScripts(ClusterObject):
    kind = CONFIG_MAP

    def manifest(self, ctx: FlannelContext) -> Object | None:
        metadata = {"name": key.BRIDGE_SCRIPTS, "namespace": key.namespace(ctx.name), "labels": key.labels(ctx.name)}
        if ctx.deleting:
            return {"metadata": metadata}
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata,
            "data": scripts(ctx, self.shared.settings),
        }
