"""Every name flannel-operator derives from a cluster id, in one place (Giant Swarm's ``key`` package)."""

from __future__ import annotations

import hashlib

from operatorkit import CLUSTER_LABEL, MANAGED_BY_LABEL

MANAGER = "flannel-operator"
NAMESPACE_PREFIX = "flannel-"
SERVICE_ACCOUNT = "flannel"
DAEMON_SET = "flannel"
BRIDGE_SCRIPTS = "bridge-setup"
ETCD_CLIENT_SECRET = "etcd-client"
CLIENT_CLUSTER_ROLE = "kubeception:flannel-client"
APP_LABEL = "app.kubernetes.io/name"
SCRIPTS_HASH_ANNOTATION = "kubeception.io/scripts-hash"


def namespace(cluster_id: str) -> str:
    """The namespace of a cluster's flannel DaemonSet, cleanup Jobs and their objects."""
    return f"{NAMESPACE_PREFIX}{cluster_id}"


def cluster_role_binding(cluster_id: str) -> str:
    return f"flannel-{cluster_id}"


def default_bridge(cluster_id: str) -> str:
    """``br-<clusterID>`` cut to the 15-character interface-name limit."""
    return f"br-{cluster_id}"[:15]


def labels(cluster_id: str) -> dict[str, str]:
    """The labels of every object of a cluster's network; the operator's informers select on managed-by."""
    return {CLUSTER_LABEL: cluster_id, MANAGED_BY_LABEL: MANAGER}


def managed_selector() -> str:
    return f"{MANAGED_BY_LABEL}={MANAGER}"


def health_port(base: int, vni: int) -> int:
    """A host port per cluster, derived from the VNI (see AllocationSettings.health_port_base)."""
    return base + vni % 40_000


def cleanup_job(node: str) -> str:
    """The cleanup Job of one host (node names may be longer than a Job name may be)."""
    return f"cleanup-{hashlib.sha256(node.encode()).hexdigest()[:12]}"
