"""The bridge setup and host cleanup scripts, as a ConfigMap the DaemonSet and the cleanup Jobs mount."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flannel_operator import key
from flannel_operator.resources._object import ClusterObject
from operatorkit.kinds import CONFIG_MAP

if TYPE_CHECKING:
    from flannel_operator.spec import FlannelContext
    from operatorkit import Object

BRIDGE_SETUP = r"""#!/bin/sh
# Create the cluster's bridge once flanneld has leased this host's subnet, and keep it up.
set -eu
# PID 1 ignores signals it has no handler for: without the trap, every pod would wait out its grace period.
trap 'exit 0' TERM INT
env_file=/run/flannel/${BRIDGE}.env
until [ -s "$env_file" ]; do sleep 1 & wait; done
. "$env_file"
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
sleep infinity & wait
"""

CLEANUP = r"""#!/bin/sh
# Remove the cluster's bridge and VXLAN device from this host (idempotent).
set -u
# Only what flannel made: the bridge if it is a bridge, the VXLAN device if it carries this cluster's VNI.
if ip -d link show "$BRIDGE" 2>/dev/null | grep -q '^ *bridge '; then
  ip link delete "$BRIDGE" || true
fi
if ip -d link show "flannel.${VNI}" 2>/dev/null | grep -q "^ *vxlan id ${VNI} "; then
  ip link delete "flannel.${VNI}" || true
fi
rm -f "/run/flannel/${BRIDGE}.env" "/run/flannel/${BRIDGE}.dns" "/run/flannel/${BRIDGE}.ntp"
rm -rf "/run/flannel/${BRIDGE}.vms"  # the VMs' address claims (kvm-operator's launcher)
"""

SCRIPTS = {"bridge-setup.sh": BRIDGE_SETUP, "cleanup.sh": CLEANUP}


class BridgeScripts(ClusterObject):
    kind = CONFIG_MAP

    def manifest(self, ctx: FlannelContext) -> Object | None:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": key.BRIDGE_SCRIPTS,
                "namespace": key.namespace(ctx.name),
                "labels": key.labels(ctx.name),
            },
            "data": SCRIPTS,
        }
