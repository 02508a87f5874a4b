"""Every name flannel-operator derives from a cluster id, in one place (Giant Swarm's ``key`` package)."""

from __future__ import annotations

import hashlib
import re

from operatorkit import CLUSTER_LABEL, MANAGED_BY_LABEL, platform

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


IFNAME_MAX = 15
"""Linux's limit on an interface name (IFNAMSIZ 16, with the terminating NUL)."""
VXLAN_PREFIX = "flannel."
VNI_MAX = 10 ** (IFNAME_MAX - len(VXLAN_PREFIX)) - 1
"""The largest VNI whose VXLAN device name fits: 9,999,999 (VXLAN itself allows 2**24 - 1)."""


def vxlan_device(vni: int) -> str:
    """The VXLAN device flanneld's vxlan backend creates on every host: ``flannel.<VNI>``."""
    return f"{VXLAN_PREFIX}{vni}"


def interface_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a cluster's bridge on a host, or None: Linux refuses it (too long, ``.``/``..``,
    a character outside ``[A-Za-z0-9_.-]``), or it would be another derived device's name — a cluster's VXLAN
    device (``flannel.<VNI>``) or a VM's tap (``vm`` + 10 hex digits, kvm-operator's launcher)."""
    if not 1 <= len(name) <= IFNAME_MAX or not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name in (".", ".."):
        return f"must be a Linux interface name: 1 to {IFNAME_MAX} of [A-Za-z0-9_.-], not '.' or '..'"
    if name.startswith(VXLAN_PREFIX):
        return f"names starting {VXLAN_PREFIX!r} are flannel's VXLAN devices ({VXLAN_PREFIX}<VNI>)"
    if re.fullmatch(r"vm[0-9a-f]{10}", name):
        return "names of the form vm<10 hex digits> are the worker VMs' taps"
    return None


def confinement_table(bridge: str) -> str:
    """The nftables table (family ``inet``) confining the VMs on ``bridge``: ``kubeception-<bridge>``
    (operatorkit.platform's derivation, which kvm-operator's launcher reads too); one bridge per cluster on a host,
    so one table per cluster."""
    if problem := interface_name_problem(bridge):
        raise ValueError(f"bridge {bridge!r}: {problem}")
    return platform.confinement_table(bridge)


def default_bridge(cluster_id: str) -> str:
    """``br-<clusterID>`` when that fits the 15-character interface-name limit; a longer id keeps its first six
    characters and adds five hex digits of its hash, so two ids never truncate to one name. (A hash can still
    meet another cluster's name: the allocator refuses that, like any clash, naming the other cluster.)"""
    name = f"br-{cluster_id}"
    if len(name) <= 15:
        return name
    return f"br-{cluster_id[:6].rstrip('-')}-{hashlib.sha256(cluster_id.encode()).hexdigest()[:5]}"


def labels(cluster_id: str) -> dict[str, str]:
    """The labels of every object of a cluster's network; the operator's informers select on managed-by."""
    return {CLUSTER_LABEL: cluster_id, MANAGED_BY_LABEL: MANAGER}


def managed_selector() -> str:
    return f"{MANAGED_BY_LABEL}={MANAGER}"


HEALTH_PORTS = 40_000
"""flanneld health ports are base .. base + 40000 (hostNetwork pods share the host's ports)."""


def health_port(base: int, vni: int) -> int:
    """The health port a cluster prefers, derived from its VNI; the allocator moves it on when another cluster
    holds it (VNIs 40,000 apart prefer the same port)."""
    return base + vni % HEALTH_PORTS


def etcd_claim_key(prefix: str) -> str:
    """Where a network's owner is recorded in etcd, next to flannel's config and subnet leases."""
    return f"{prefix}/owner"


def cleanup_job(node: str) -> str:
    """The cleanup Job of one host (node names may be longer than a Job name may be)."""
    return f"cleanup-{hashlib.sha256(node.encode()).hexdigest()[:12]}"
