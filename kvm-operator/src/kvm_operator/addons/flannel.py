"""The guest's pod network between its nodes: flanneld (the VXLAN backend, what the platform's own networks run)
as a DaemonSet on every worker, taking each node's pod range from its Node (``--kube-subnet-mgr``: the
controller-manager allocates them, the node's bridge CNI already serves its range) and routing the others' through
``flannel.1``. Its VXLAN listens on :data:`VXLAN_PORT`, not the kernel's default: the VMs' own traffic already
crosses the platform's VXLAN (CAPK's advice for nested clusters). It masquerades what leaves the pod network
(``--ip-masq``, nftables — the node has no iptables), so a pod's address reaches another node unchanged and
NetworkPolicy can judge it; the node's CNI leaves masquerading to it (``bootconfig.WorkerBoot.masquerade``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from kvm_operator.addons import (
    FLANNEL,
    Guest,
    Manifests,
    account_bound_to,
    metadata,
    node_daemonset,
    node_probes,
    token_kubeconfig,
)
from operatorkit.kinds import CLUSTER_ROLE, CONFIG_MAP, DAEMON_SET

if TYPE_CHECKING:
    from operatorkit import Object

VXLAN_PORT = 8475
"""Not 8472 (the Linux default, flanneld's) nor 4789 (IANA's): the outer network's."""
HEALTHZ_PORT = 10268  # on the node's loopback: a hostNetwork port a user's hostPort is unlikely to want
CONFIG_DIR = "/etc/kube-flannel"
ROLE = "kubeception:flannel"


def network_config(guest: Guest) -> dict[str, object]:
    return {
        "Network": str(guest.pod_cidr),
        "EnableNFTables": True,
        "Backend": {"Type": "vxlan", "Port": VXLAN_PORT},
    }


def daemonset(guest: Guest) -> Object:
    container = {
        "name": FLANNEL,
        "image": guest.flannel_image,
        "imagePullPolicy": guest.pull_policy,
        "command": [
            "/usr/local/bin/flanneld",
            "--kube-subnet-mgr",
            "--ip-masq",
            f"--kubeconfig-file={CONFIG_DIR}/kubeconfig",
            f"--net-config-path={CONFIG_DIR}/net-conf.json",
            "--healthz-ip=127.0.0.1",
            f"--healthz-port={HEALTHZ_PORT}",
        ],
        "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "securityContext": {"privileged": True},  # links, routes, nftables, sysctls
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
        **node_probes("/healthz", HEALTHZ_PORT),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "run", "mountPath": "/run/flannel"},
        ],
    }
    # /run/flannel/subnet.env is for flannel's CNI plugin, which the node does not use
    volumes = [{"name": "config", "configMap": {"name": FLANNEL}}, {"name": "run", "emptyDir": {}}]
    return node_daemonset(FLANNEL, container, volumes)


def render(guest: Guest) -> Manifests:
    files = {
        "net-conf.json": json.dumps(network_config(guest), indent=2),
        "kubeconfig": token_kubeconfig(guest, FLANNEL),
    }
    role = {  # upstream's kube-flannel.yml, less reading pods (it is told its node by NODE_NAME)
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": metadata(ROLE, FLANNEL, namespace=None),
        "rules": [
            {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]},
        ],
    }
    return [
        (CLUSTER_ROLE, role),
        *account_bound_to(FLANNEL, ROLE, ROLE),
        (CONFIG_MAP, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(FLANNEL, FLANNEL), "data": files}),
        (DAEMON_SET, daemonset(guest)),
    ]
