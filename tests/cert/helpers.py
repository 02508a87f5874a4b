"""CAConfig / CertConfig manifests and readers shared by the cert-operator tests."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from cryptography import x509

from guestkit import CA_CONFIG, CERT_CONFIG
from operatorkit import KubeClient, is_true
from operatorkit.kinds import SECRET
from operatorkit.testing import status_of

if TYPE_CHECKING:
    import hvac


def ca_config(name: str, namespace: str, cluster: str, **spec: Any) -> dict[str, Any]:
    roles = [
        {
            "name": "api",
            "allowedDomains": [f"{cluster}.local"],
            "allowSubdomains": True,
            "allowBareDomains": True,
            "allowIPSANs": True,
            "maxTTL": "24h",
        },
        {"name": "admin", "allowAnyName": True, "organizations": ["system:masters"]},
    ]
    return {
        "apiVersion": CA_CONFIG.api_version,
        "kind": CA_CONFIG.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterID": cluster, "commonName": f"{cluster} CA", "ttl": "48h", "roles": roles, **spec},
    }


def cert_config(name: str, namespace: str, cluster: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": CERT_CONFIG.api_version,
        "kind": CERT_CONFIG.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterID": cluster, "role": "api", "commonName": f"apiserver.{cluster}.local", "ttl": "1h", **spec},
    }


def ready(kube: KubeClient, kind: Any, name: str, namespace: str) -> bool:
    return is_true(status_of(kube, kind, name, namespace), "Ready")


def secret_cert(kube: KubeClient, name: str, namespace: str) -> tuple[x509.Certificate, x509.Certificate, str]:
    secret = kube.get(SECRET, name, namespace)
    assert secret["type"] == "kubernetes.io/tls"
    leaf = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    ca = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["ca.crt"]))
    return leaf, ca, base64.b64decode(secret["data"]["tls.key"]).decode()


def revoked(bao: hvac.Client, cluster: str, serial: str) -> bool:
    data = bao.secrets.pki.read_certificate(serial, mount_point=f"pki-{cluster}")["data"]
    return int(data.get("revocation_time", 0)) > 0


def issued_serials(bao: hvac.Client, cluster: str) -> set[str]:
    """Every certificate the cluster's mount has issued (the CA included)."""
    return set(bao.list(f"pki-{cluster}/certs")["data"]["keys"])
