"""A guest cluster's PKI, issued by cert-operator: one CAConfig (a Vault PKI mount of the cluster's own) and one
CertConfig per certificate of the cluster's set, each becoming a ``kubernetes.io/tls`` Secret in the cluster's
namespace on the mother. Renewal and CA rotation are cert-operator's.

What differs between infrastructures is said by the operator in a :class:`GuestPKI`: the names etcd and the API
server answer to, the addresses in the API server's certificate, the certificates and the extra CA roles its nodes
need. Everything else — the CA's lifetime and key, the roles' shape, the service-account key's lifetime — is here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from guestkit.certificates import ADMIN, APISERVER, CLIENT, ETCD, SERVICE_ACCOUNTS
from guestkit.kinds import CA_CONFIG, CERT_CONFIG
from operatorkit import DeletedInOrder, Status

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from operatorkit import Context, Object

SpecT = TypeVar("SpecT")
StatusT = TypeVar("StatusT", bound=Status)

CA = "ca"
"""The CAConfig's name in the cluster's namespace."""
CA_TTL = "175200h"  # 20 years: outlives the 10-year service-account key it signs
SERVICE_ACCOUNT_TTL = "87600h"  # its key signs every service-account token: renewing it invalidates them


@dataclass(frozen=True)
class GuestPKI:
    """What one guest cluster's PKI says, as its operator derives it from the spec and settings."""

    cluster_id: str
    namespace: str
    """The cluster's namespace on the mother: the CAConfig, the CertConfigs and their Secrets."""
    labels: Mapping[str, str]
    """On every child: the cluster's and the operator's (what its informers select)."""
    certificates: Mapping[str, tuple[str, str]]
    """Name → (CA role, common name): :func:`guestkit.certificate_set`."""
    etcd_names: Sequence[str]
    apiserver_names: Sequence[str]
    apiserver_ips: Sequence[str] = ("127.0.0.1",)
    extra_roles: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    """CA roles beyond etcd, apiserver, client and admin (:func:`guestkit.node_role`, ...)."""

    def metadata(self, name: str) -> dict[str, Any]:
        return {"name": name, "namespace": self.namespace, "labels": dict(self.labels)}

    def ca_config(self) -> Object:
        roles: list[dict[str, Any]] = [
            {
                "name": ETCD,
                "allowedDomains": [*self.etcd_names, "etcd-peer"],
                "allowBareDomains": True,
                "allowIPSANs": True,
            },
            {
                "name": APISERVER,
                "allowedDomains": [*self.apiserver_names, "kube-apiserver"],
                "allowBareDomains": True,
                "allowIPSANs": True,
            },
            {"name": CLIENT, "allowAnyName": True},
            {"name": ADMIN, "allowAnyName": True, "organizations": ["system:masters"]},
            *(dict(role) for role in self.extra_roles),
        ]
        return {
            "apiVersion": CA_CONFIG.api_version,
            "kind": CA_CONFIG.kind,
            "metadata": self.metadata(CA),
            "spec": {
                "clusterID": self.cluster_id,
                "commonName": f"{self.cluster_id} CA",
                "ttl": CA_TTL,
                "keyType": "ec",  # small keys: a certificate, its key and the CA fit one KMS Encrypt (4 KB)
                "keyBits": 256,
                "roles": roles,
            },
        }

    def cert_config(self, certificate: str) -> Object:
        role, common_name = self.certificates[certificate]
        spec: dict[str, Any] = {"clusterID": self.cluster_id, "role": role, "commonName": common_name}
        if role == ETCD:
            spec |= {"altNames": list(self.etcd_names), "ipSANs": ["127.0.0.1"]}
        elif role == APISERVER:
            spec |= {"altNames": list(self.apiserver_names), "ipSANs": list(self.apiserver_ips)}
        if certificate == SERVICE_ACCOUNTS:
            spec["ttl"] = SERVICE_ACCOUNT_TTL
        return {
            "apiVersion": CERT_CONFIG.api_version,
            "kind": CERT_CONFIG.kind,
            "metadata": self.metadata(certificate),
            "spec": spec,
        }


class HasPKI(Protocol[SpecT, StatusT]):
    """The operator's side (its ``Shared``): its cluster's PKI, derived from the context."""

    def pki(self, ctx: Context[SpecT, StatusT], /) -> GuestPKI: ...


@dataclass
class ClusterCA(DeletedInOrder[SpecT, StatusT]):
    """The cluster's CAConfig. In the cluster's namespace, tied to the primary by owner labels: deleted by the
    controller, in order (cert-operator keeps the CA until its certificates are gone)."""

    cluster: HasPKI[SpecT, StatusT]
    kind = CA_CONFIG

    def manifest(self, ctx: Context[SpecT, StatusT]) -> Object | None:
        return self.cluster.pki(ctx).ca_config()


@dataclass
class Certificate(DeletedInOrder[SpecT, StatusT]):
    """One CertConfig of the cluster's set."""

    cluster: HasPKI[SpecT, StatusT]
    certificate: str = ""
    kind = CERT_CONFIG

    @property
    def name(self) -> str:
        return f"certificate-{self.certificate}"

    def manifest(self, ctx: Context[SpecT, StatusT]) -> Object | None:
        return self.cluster.pki(ctx).cert_config(self.certificate)


def pki_children(cluster: HasPKI[SpecT, StatusT], certificates: Iterable[str]) -> list[DeletedInOrder[SpecT, StatusT]]:
    """The CA and a CertConfig per certificate, in the order they are made (a deletion tier's members)."""
    return [ClusterCA(cluster), *(Certificate(cluster, certificate=name) for name in certificates)]
