"""kube-proxy: a DaemonSet on every worker (hostNetwork, privileged: it writes the node's nftables rules), its
ServiceAccount bound to ``system:node-proxier`` (the bootstrap role kubeadm binds), and its configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from kvm_operator.addons import (
    KUBE_PROXY,
    Guest,
    Manifests,
    account_bound_to,
    metadata,
    node_daemonset,
    node_probes,
    token_kubeconfig,
)
from operatorkit.kinds import CONFIG_MAP, DAEMON_SET

if TYPE_CHECKING:
    from operatorkit import Object

CONFIG_DIR = "/var/lib/kube-proxy"
HEALTHZ_PORT = 10256
BINDING = "kubeception:kube-proxy"


def configuration(guest: Guest) -> dict[str, object]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "nftables",  # the node has nft and the modules, no iptables
        "clusterCIDR": str(guest.pod_cidr),
        "clientConnection": {"kubeconfig": f"{CONFIG_DIR}/kubeconfig.conf"},
        "bindAddress": "0.0.0.0",
        "metricsBindAddress": "127.0.0.1:10249",
        "healthzBindAddress": f"0.0.0.0:{HEALTHZ_PORT}",
    }


def daemonset(guest: Guest) -> Object:
    container = {
        "name": KUBE_PROXY,
        "image": f"{guest.kube_proxy_image}:v{guest.version}",
        "imagePullPolicy": guest.pull_policy,
        "command": [
            "/usr/local/bin/kube-proxy",
            f"--config={CONFIG_DIR}/config.conf",
            "--hostname-override=$(NODE_NAME)",
        ],
        "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "securityContext": {"privileged": True},
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
        # No liveness probe (kubeadm's kube-proxy has none): its health fails while a rules sync is overdue, which
        # on a starved TCG VM is load, not a hang — and a restart drops every Service until the new process has
        # synced again (the conformance run's kube-dns refused on a node for minutes). A crash still restarts it.
        **node_probes("/livez", HEALTHZ_PORT, liveness=False),
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}],
    }
    volumes = [{"name": "config", "configMap": {"name": KUBE_PROXY}}]
    return node_daemonset(KUBE_PROXY, container, volumes, cluster_dns=True)


def render(guest: Guest) -> Manifests:
    files = {
        "config.conf": yaml.safe_dump(configuration(guest), sort_keys=False),
        "kubeconfig.conf": token_kubeconfig(guest, KUBE_PROXY),
    }
    return [
        *account_bound_to(KUBE_PROXY, BINDING, "system:node-proxier"),
        (
            CONFIG_MAP,
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(KUBE_PROXY, KUBE_PROXY), "data": files},
        ),
        (DAEMON_SET, daemonset(guest)),
    ]
