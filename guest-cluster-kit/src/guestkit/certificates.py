"""The certificates of a guest cluster's control plane: kubeadm's set, one CertConfig (and Secret) each, and the
roles of the cluster's CA that sign them.

A certificate is ``name → (role of the cluster's CA, common name)``. The ``admin`` role stamps O=system:masters; the
service-account key pair is a certificate's key, kept 10 years (its key signs every service-account token). An
operator takes the set with what its nodes need on top: a hosted control plane behind an aggregation proxy the
front-proxy client, instances that join by TLS bootstrapping the kubelet-bootstrap certificate.
"""

from __future__ import annotations

from typing import Any

ETCD, APISERVER, CLIENT, ADMIN = "etcd", "apiserver", "client", "admin"
NODE, BOOTSTRAP = "node", "bootstrap"
ADMIN_CERTIFICATE = "admin"
"""The admin's certificate: the guest's admin kubeconfig carries it."""
SERVICE_ACCOUNTS = "service-accounts"

_KUBEADM: dict[str, tuple[str, str]] = {
    "etcd-server": (ETCD, "etcd"),
    "etcd-peer": (ETCD, "etcd-peer"),
    "apiserver": (APISERVER, "kube-apiserver"),
    "apiserver-etcd-client": (CLIENT, "kube-apiserver-etcd-client"),
    "apiserver-kubelet-client": (ADMIN, "kube-apiserver-kubelet-client"),
    "front-proxy-client": (CLIENT, "front-proxy-client"),
    SERVICE_ACCOUNTS: (CLIENT, "service-accounts"),
    "controller-manager": (CLIENT, "system:kube-controller-manager"),
    "scheduler": (CLIENT, "system:kube-scheduler"),
    ADMIN_CERTIFICATE: (ADMIN, "kubernetes-admin"),
}
_KUBELET_BOOTSTRAP = {"kubelet-bootstrap": (BOOTSTRAP, "kubelet-bootstrap")}


def certificate_set(*, front_proxy: bool = True, kubelet_bootstrap: bool = False) -> dict[str, tuple[str, str]]:
    """kubeadm's set, in the order they are made: with the front-proxy client (an API server that aggregates), and
    the kubelet-bootstrap certificate last (nodes that join by TLS bootstrapping)."""
    found = {name: value for name, value in _KUBEADM.items() if front_proxy or name != "front-proxy-client"}
    return found | (_KUBELET_BOOTSTRAP if kubelet_bootstrap else {})


def node_role() -> dict[str, Any]:
    """The CA role of worker nodes' kubelets: what the guest's Node authorizer recognises as a node."""
    return {"name": NODE, "allowAnyName": True, "organizations": ["system:nodes"]}


def bootstrap_role() -> dict[str, Any]:
    """The CA role of the kubelet-bootstrap certificate: a node that asks the guest for its own certificate."""
    return {"name": BOOTSTRAP, "allowAnyName": True, "organizations": ["system:bootstrappers"]}
