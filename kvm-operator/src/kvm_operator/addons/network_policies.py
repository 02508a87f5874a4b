"""NetworkPolicy in the guest: kube-network-policies (SIG Network's implementation on nftables and a netfilter
queue; flannel's documented partner, ``Documentation/netpol.md``) as a DaemonSet on every worker — the same build
the local mother's real nodes run (images/kube-network-policies.yaml). It judges the first packet of each
connection to or from a pod a policy selects, by the pods' real addresses (flannel keeps them between nodes). It
reads pods, namespaces and policies through the guest's API by its name — told by the in-cluster variables, which
would otherwise name the ``kubernetes`` Service, whose endpoints a VM may not reach — and learns a new pod's
address from containerd's NRI socket before the API server has it. It fails closed: while it is not running, the
packets it would judge are dropped."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvm_operator.addons import NETWORK_POLICIES, Guest, Manifests, account_bound_to, metadata, node_daemonset
from operatorkit.kinds import CLUSTER_ROLE, DAEMON_SET

if TYPE_CHECKING:
    from operatorkit import Object

ROLE = "kubeception:network-policies"
METRICS = "127.0.0.1:10269"  # on the node's loopback, out of the way of a user's hostPort


def daemonset(guest: Guest) -> Object:
    container = {
        "name": NETWORK_POLICIES,
        "image": guest.network_policies_image,
        "imagePullPolicy": guest.pull_policy,
        "args": ["--hostname-override=$(NODE_NAME)", f"--metrics-bind-address={METRICS}", "--v=2"],
        "env": [
            {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "KUBERNETES_SERVICE_HOST", "value": guest.api_host},
            {"name": "KUBERNETES_SERVICE_PORT", "value": str(guest.api_port)},
        ],
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
        "securityContext": {
            # nftables and the queue: CAP_NET_ADMIN in the node's network namespace; root for containerd's NRI socket
            "runAsUser": 0,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]},
        },
        "volumeMounts": [{"name": "nri", "mountPath": "/var/run/nri"}],
    }
    nri = {"name": "nri", "hostPath": {"path": "/var/run/nri", "type": "DirectoryOrCreate"}}
    return node_daemonset(NETWORK_POLICIES, container, [nri])


def render(guest: Guest) -> Manifests:
    role = {  # upstream's install.yaml
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": metadata(ROLE, NETWORK_POLICIES, namespace=None),
        "rules": [
            {"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": ["list", "watch"]},
            {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["list", "watch"]},
        ],
    }
    return [
        (CLUSTER_ROLE, role),
        *account_bound_to(NETWORK_POLICIES, ROLE, ROLE),
        (DAEMON_SET, daemonset(guest)),
    ]
