"""The Kubernetes objects of a cluster network: namespace, service account, cluster role binding, bridge script.

Each is an ``ObjectResource`` owned by the cluster-scoped FlannelConfig, so even a forced delete leaves nothing
behind; deletion also removes them explicitly, in order.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from flannel_operator.spec import CLUSTER_LABEL
from operatorkit import Object, ObjectResource
from operatorkit.kinds import CLUSTER_ROLE_BINDING, CONFIG_MAP, NAMESPACE, SECRET, SERVICE_ACCOUNT

if TYPE_CHECKING:
    from flannel_operator.settings import FlannelSettings
    from flannel_operator.spec import FlannelConfigSpec
    from operatorkit import Context, Kind

SERVICE_ACCOUNT_NAME = "flannel"
BRIDGE_SCRIPT = "bridge-setup"
ETCD_CLIENT_SECRET = "etcd-client"
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "flannel-operator"


def cluster_id(ctx: Context[FlannelConfigSpec]) -> str:
    """From status when recorded (deletion must not depend on a spec that may no longer validate)."""
    return str(ctx.status.get("clusterID") or ctx.spec.cluster_id)


def labels(ctx: Context[FlannelConfigSpec]) -> dict[str, str]:
    return {CLUSTER_LABEL: cluster_id(ctx), MANAGED_BY: MANAGER}


class _ClusterObject(ObjectResource["FlannelConfigSpec"]):
    def __init__(self, settings: FlannelSettings) -> None:
        self.settings = settings

    def needs_finalizer(self, primary: Kind) -> bool:
        return True  # deletion is ordered: these go only after the hosts are cleaned up


class ClusterNamespace(_ClusterObject):
    kind = NAMESPACE

    def manifest(self, ctx: Context[FlannelConfigSpec]) -> Object | None:
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": self.settings.namespace(cluster_id(ctx)),
                # flanneld and the bridge setup need the host network and NET_ADMIN.
                "labels": {**labels(ctx), "pod-security.kubernetes.io/enforce": "privileged"},
            },
        }


class FlannelServiceAccount(_ClusterObject):
    kind = SERVICE_ACCOUNT

    def manifest(self, ctx: Context[FlannelConfigSpec]) -> Object | None:
        return {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": SERVICE_ACCOUNT_NAME,
                "namespace": self.settings.namespace(cluster_id(ctx)),
                "labels": labels(ctx),
            },
        }


class FlannelClusterRoleBinding(_ClusterObject):
    """Binds the cluster's flannel service account to the client role (reading its node) from the chart."""

    kind = CLUSTER_ROLE_BINDING

    def manifest(self, ctx: Context[FlannelConfigSpec]) -> Object | None:
        namespace = self.settings.namespace(cluster_id(ctx))
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"flannel-{cluster_id(ctx)}", "labels": labels(ctx)},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": self.settings.client_cluster_role,
            },
            "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT_NAME, "namespace": namespace}],
        }


_BRIDGE_SETUP = r"""#!/bin/sh
# Create the cluster's bridge once flanneld has leased this host's subnet, and keep it up.
set -eu
env_file=/run/flannel/${BRIDGE}.env
until [ -s "$env_file" ]; do sleep 1; done
. "$env_file"
ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
ip addr replace "${FLANNEL_SUBNET}" dev "$BRIDGE"
ip link set "$BRIDGE" mtu "${FLANNEL_MTU}" up
printf '%s\n' $DNS_SERVERS > /run/flannel/${BRIDGE}.dns
printf '%s\n' $NTP_SERVERS > /run/flannel/${BRIDGE}.ntp
exec sleep infinity
"""

_CLEANUP = r"""#!/bin/sh
# Remove the cluster's bridge and VXLAN device from this host (idempotent).
set -u
ip link delete "$BRIDGE" 2>/dev/null || true
ip link delete "flannel.${VNI}" 2>/dev/null || true
rm -f /run/flannel/${BRIDGE}.env /run/flannel/${BRIDGE}.dns /run/flannel/${BRIDGE}.ntp
"""


class BridgeScripts(_ClusterObject):
    kind = CONFIG_MAP

    def manifest(self, ctx: Context[FlannelConfigSpec]) -> Object | None:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": BRIDGE_SCRIPT,
                "namespace": self.settings.namespace(cluster_id(ctx)),
                "labels": labels(ctx),
            },
            "data": {"bridge-setup.sh": _BRIDGE_SETUP, "cleanup.sh": _CLEANUP},
        }


class EtcdClientSecret(_ClusterObject):
    """The etcd client certificate flanneld presents, when the mother's etcd requires one."""

    kind = SECRET

    def manifest(self, ctx: Context[FlannelConfigSpec]) -> Object | None:
        files = self.settings.etcd.tls_files()
        if files is None:
            return None
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": ETCD_CLIENT_SECRET,
                "namespace": self.settings.namespace(cluster_id(ctx)),
                "labels": labels(ctx),
            },
            "stringData": files,
        }

    def current_state(self, ctx: Context[FlannelConfigSpec]) -> Object | None:
        namespace = self.settings.namespace(cluster_id(ctx))
        if self.settings.etcd.tls_files() is None:
            return None
        return ctx.client.get_or_none(SECRET, ETCD_CLIENT_SECRET, namespace)

    def differs(self, current: Object, desired: Object) -> bool:
        # The API server returns stringData as base64 data: compare that.
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in desired["stringData"].items()}
        return current.get("data") != encoded
