"""Every name cert-operator derives from a cluster id or a CertConfig, in one place."""

from __future__ import annotations

from operatorkit import CLUSTER_LABEL, MANAGED_BY_LABEL

MANAGER = "cert-operator"
ROOT_ISSUER = "root"
SPEC_HASH_ANNOTATION = "kubeception.io/spec-hash"
SERIAL_ANNOTATION = "kubeception.io/serial"
ISSUED_AT_ANNOTATION = "kubeception.io/issued-at"
RECREATE_CA_ANNOTATION = "kubeception.io/recreate-ca"
"""On a CAConfig whose CA was lost: the lost CA's serial. Only then is a new CA generated for the cluster — every
certificate and every client trusting the old CA must then be replaced."""
GUEST_CLUSTER_INDEX = "guest-cluster"
"""The cache index of GuestCredentialRequests by status.clusterID: a CA becoming Ready wakes those waiting for it."""
CLUSTER_INDEX = "cluster"
"""The cache index of CAConfigs and CertConfigs by spec.clusterID."""


def mount(cluster_id: str) -> str:
    """The cluster's PKI secrets engine in Vault."""
    return f"pki-{cluster_id}"


GUEST_ROLE_PREFIX = "guest-user-"
"""The PKI roles the guest credential issuer keeps in a cluster's mount: CAConfig roles cannot be named so."""


def guest_role(access: str) -> str:
    """The PKI role guest credentials of one access level are signed with (its O is the access level's group)."""
    return f"{GUEST_ROLE_PREFIX}{access}"


def rotation_issuer(rotation_id: str) -> str:
    """The root issuer a rotation generates next to the current one."""
    return f"root-{rotation_id}"


def ca_config_map(cluster_id: str) -> str:
    """The ConfigMap publishing the cluster's trusted CA certificates."""
    return f"{cluster_id}-ca"


def labels(cluster_id: str) -> dict[str, str]:
    return {CLUSTER_LABEL: cluster_id, MANAGED_BY_LABEL: MANAGER}


def managed_selector() -> str:
    return f"{MANAGED_BY_LABEL}={MANAGER}"
