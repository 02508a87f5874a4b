"""The cluster's PKI, issued by cert-operator: one CAConfig (a Vault PKI mount of the cluster's own) and one
CertConfig per certificate of kubeadm's set, each becoming a ``kubernetes.io/tls`` Secret the control plane
mounts. Renewal and CA rotation are cert-operator's; the components reload what they can from the mounted files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kvm_operator import key
from kvm_operator.resources._object import ClusterObject
from kvm_operator.shared import CA_CONFIG, CERT_CONFIG

if TYPE_CHECKING:
    from kvm_operator.spec import KVMContext
    from operatorkit import Object

ETCD_MEMBERS = 3  # names for the largest control plane, so scaling 1 → 3 needs no new certificate


def etcd_names(cluster_id: str) -> list[str]:
    namespace = key.namespace(cluster_id)
    peers = [f"etcd-{i}.{key.etcd_peers(cluster_id)}.{namespace}.svc" for i in range(ETCD_MEMBERS)]
    return ["etcd", f"etcd.{namespace}.svc", *peers, "localhost"]


def apiserver_names(cluster_id: str, hostname: str) -> list[str]:
    namespace = key.namespace(cluster_id)
    return [
        hostname,
        "apiserver",
        f"apiserver.{namespace}.svc",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "localhost",
    ]


def kubernetes_service_ip(ctx: KVMContext) -> str:
    """The guest's ``kubernetes`` Service address: the first of its service CIDR."""
    return str(next(ctx.spec.network.service_cidr.hosts()))


@dataclass
class ClusterCA(ClusterObject):
    kind = CA_CONFIG

    def manifest(self, ctx: KVMContext) -> Object | None:
        cluster = ctx.spec.cluster_id
        hostname = self.shared.api_hostname(ctx.spec)
        roles: list[dict[str, Any]] = [
            {
                "name": "etcd",
                "allowedDomains": [*etcd_names(cluster), "etcd-peer"],
                "allowBareDomains": True,
                "allowIPSANs": True,
            },
            {
                "name": "apiserver",
                "allowedDomains": [*apiserver_names(cluster, hostname), "kube-apiserver"],
                "allowBareDomains": True,
                "allowIPSANs": True,
            },
            {"name": "client", "allowAnyName": True},
            {"name": "admin", "allowAnyName": True, "organizations": ["system:masters"]},
            # Worker VMs' kubelets: what the guest's Node authorizer recognises as a node.
            {"name": "node", "allowAnyName": True, "organizations": ["system:nodes"]},
        ]
        return {
            "apiVersion": CA_CONFIG.api_version,
            "kind": CA_CONFIG.kind,
            "metadata": key.metadata(cluster, key.CA),
            "spec": {
                "clusterID": cluster,
                "commonName": f"{cluster} CA",
                "ttl": "175200h",  # 20 years: outlives the 10-year service-account key it signs
                "keyType": "ec",
                "keyBits": 256,
                "roles": roles,
            },
        }


@dataclass
class ComponentCertificate(ClusterObject):
    """One CertConfig of the set in :data:`kvm_operator.key.CERTIFICATES`."""

    certificate: str = ""

    @property
    def name(self) -> str:
        return f"certificate-{self.certificate}"

    kind = CERT_CONFIG

    def manifest(self, ctx: KVMContext) -> Object | None:
        cluster = ctx.spec.cluster_id
        role, common_name = key.CERTIFICATES[self.certificate]
        hostname = self.shared.api_hostname(ctx.spec)
        spec: dict[str, Any] = {"clusterID": cluster, "role": role, "commonName": common_name}
        if role == "etcd":
            spec |= {"altNames": etcd_names(cluster), "ipSANs": ["127.0.0.1"]}
        elif role == "apiserver":
            spec |= {
                "altNames": apiserver_names(cluster, hostname),
                "ipSANs": ["127.0.0.1", kubernetes_service_ip(ctx)],
            }
        if self.certificate == "service-accounts":
            spec["ttl"] = "87600h"  # its key signs every service-account token: renewing it invalidates them
        return {
            "apiVersion": CERT_CONFIG.api_version,
            "kind": CERT_CONFIG.kind,
            "metadata": key.metadata(cluster, self.certificate),
            "spec": spec,
        }
