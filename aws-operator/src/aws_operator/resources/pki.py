"""The cluster's PKI, issued by cert-operator: a CAConfig (a Vault PKI mount of the cluster's own) and a CertConfig
per certificate in :data:`aws_operator.key.CERTIFICATES`. Renewal is cert-operator's; a renewed certificate (a new
serial) is uploaded again by the certificate-objects step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_operator import key
from aws_operator.resources._object import ClusterObject
from aws_operator.shared import CA_CONFIG, CERT_CONFIG, Shared

if TYPE_CHECKING:
    from aws_operator.spec import AWSContext
    from operatorkit import Object


def etcd_names(zone: str) -> list[str]:
    return ["etcd", f"etcd.{zone}", "localhost"]


def apiserver_names(zone: str) -> list[str]:
    return [f"api.{zone}", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "localhost"]


@dataclass
class ClusterCA(ClusterObject):
    shared: Shared
    kind = CA_CONFIG

    def manifest(self, ctx: AWSContext) -> Object | None:
        cluster, zone = ctx.spec.cluster_id, self.shared.zone(ctx)
        roles: list[dict[str, Any]] = [
            {
                "name": "etcd",
                "allowedDomains": [*etcd_names(zone), "etcd-peer"],
                "allowBareDomains": True,
                "allowIPSANs": True,
            },
            {
                "name": "apiserver",
                "allowedDomains": [*apiserver_names(zone), "kube-apiserver"],
                "allowBareDomains": True,
                "allowIPSANs": True,
            },
            {"name": "client", "allowAnyName": True},
            {"name": "admin", "allowAnyName": True, "organizations": ["system:masters"]},
            {"name": "bootstrap", "allowAnyName": True, "organizations": ["system:bootstrappers"]},
        ]
        return {
            "apiVersion": CA_CONFIG.api_version,
            "kind": CA_CONFIG.kind,
            "metadata": key.metadata(cluster, key.CA),
            "spec": {
                "clusterID": cluster,
                "commonName": f"{cluster} CA",
                "ttl": "175200h",
                "keyType": "ec",  # small keys: a certificate, its key and the CA fit one KMS Encrypt (4 KB)
                "keyBits": 256,
                "roles": roles,
            },
        }


@dataclass
class Certificate(ClusterObject):
    shared: Shared
    certificate: str = ""
    kind = CERT_CONFIG

    @property
    def name(self) -> str:
        return f"certificate-{self.certificate}"

    def manifest(self, ctx: AWSContext) -> Object | None:
        cluster, zone = ctx.spec.cluster_id, self.shared.zone(ctx)
        role, common_name = key.CERTIFICATES[self.certificate]
        spec: dict[str, Any] = {"clusterID": cluster, "role": role, "commonName": common_name}
        if role == "etcd":
            spec |= {"altNames": etcd_names(zone), "ipSANs": ["127.0.0.1"]}
        elif role == "apiserver":
            spec |= {"altNames": apiserver_names(zone), "ipSANs": ["127.0.0.1"]}
        if self.certificate == "service-accounts":
            spec["ttl"] = "87600h"  # its key signs every service-account token: renewing it invalidates them
        return {
            "apiVersion": CERT_CONFIG.api_version,
            "kind": CERT_CONFIG.kind,
            "metadata": key.metadata(cluster, self.certificate),
            "spec": spec,
        }
