"""The CAConfig and CertConfig controllers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cert_operator import key
from cert_operator.resources.ca_health import CAHealth
from cert_operator.resources.cert_configs_gone import CertConfigsGone
from cert_operator.resources.certificate import Certificate
from cert_operator.resources.guest_certificate import GuestCertificate
from cert_operator.resources.guest_expiry import GuestExpiry
from cert_operator.resources.guest_identity import GuestIdentity
from cert_operator.resources.mount import PKIMount
from cert_operator.resources.published_ca import PublishedCA
from cert_operator.resources.roles import Roles
from cert_operator.resources.root_ca import RootCA
from cert_operator.resources.rotation import REISSUING, TRUSTING, CARotation
from cert_operator.resources.unstored_signature import UnstoredSignature
from cert_operator.spec import (
    GUEST_CREDENTIAL_REQUEST,
    CAConfigSpec,
    CAConfigStatus,
    CertConfigSpec,
    CertConfigStatus,
    GuestCredentialRequestSpec,
    GuestCredentialRequestStatus,
)
from cert_operator.vault import Vault
from cert_operator.vault_auth import from_settings
from guestkit import CA_CONFIG, CERT_CONFIG
from operatorkit import Controller, Index, Watch, by_field
from operatorkit.kinds import CONFIG_MAP, SECRET

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from cert_operator.settings import CertSettings
    from operatorkit import CacheReader, Object


def same_cluster(interested: Callable[[Object], bool] = lambda _: True) -> Callable[[Object, CacheReader], list[str]]:
    """Maps an object to the keys of the primary objects of the same cluster in the same namespace that are
    ``interested``: a CA becoming Ready (or its roles, trust or issuer changing) re-checks the cluster's
    certificates; a CertConfig changing wakes its CAConfig only while that waits for CertConfigs."""

    def keys(obj: Object, primaries: CacheReader) -> list[str]:
        namespace = obj["metadata"].get("namespace")
        return [
            f"{namespace}/{other['metadata']['name']}"
            for other in primaries.by_index(key.CLUSTER_INDEX, obj.get("spec", {}).get("clusterID", ""))
            if other["metadata"].get("namespace") == namespace and interested(other)
        ]

    return keys


def waiting_for_cert_configs(ca: Object) -> bool:
    """A CAConfig that is being deleted or rotating waits for its cluster's CertConfigs; otherwise their every
    status change would cost it a round of Vault reads."""
    phase = (ca.get("status") or {}).get("rotation", {}).get("phase")
    return bool(ca["metadata"].get("deletionTimestamp")) or phase in (TRUSTING, REISSUING)


def _by_cluster(kind: Any) -> Index:
    return Index(kind, key.CLUSTER_INDEX, by_field("spec", "clusterID"))


def ca_controller(vault: Vault) -> Controller[CAConfigSpec, CAConfigStatus]:
    return Controller(
        name="caconfig",
        kind=CA_CONFIG,
        spec_model=CAConfigSpec,
        status_model=CAConfigStatus,
        # Deletion runs in reverse: wait for the CertConfigs, remove the published CA, then revoke and unmount.
        resources=[
            PKIMount(vault),
            RootCA(vault),
            CARotation(vault),
            Roles(vault),
            PublishedCA(),
            CAHealth(),
            CertConfigsGone(),
        ],
        owns=[CONFIG_MAP],
        owned_selector=key.managed_selector(),
        watches=[Watch(CERT_CONFIG, same_cluster(waiting_for_cert_configs))],
        indexes=[_by_cluster(CA_CONFIG), _by_cluster(CERT_CONFIG)],
    )


def cert_controller(vault: Vault, min_reissue_interval: float = 10.0) -> Controller[CertConfigSpec, CertConfigStatus]:
    return Controller(
        name="certconfig",
        kind=CERT_CONFIG,
        spec_model=CertConfigSpec,
        status_model=CertConfigStatus,
        resources=[Certificate(vault, min_reissue_interval)],
        owns=[SECRET],
        owned_selector=key.managed_selector(),
        watches=[Watch(CA_CONFIG, same_cluster())],
        indexes=[_by_cluster(CERT_CONFIG), _by_cluster(CA_CONFIG)],
    )


def waiting_guest_requests(ca: Object, primaries: CacheReader) -> list[str]:
    """A CAConfig changing wakes the GuestCredentialRequests that wait for its cluster's CA (any namespace: the
    request is in its organization, the CA in the cluster's namespace; the request checks ownership itself)."""
    cluster = (ca.get("spec") or {}).get("clusterID", "")
    return [
        f"{r['metadata']['namespace']}/{r['metadata']['name']}"
        for r in primaries.by_index(key.GUEST_CLUSTER_INDEX, cluster)
        if not (r.get("status") or {}).get("serialNumber")
    ]


def guest_controller(vault: Vault) -> Controller[GuestCredentialRequestSpec, GuestCredentialRequestStatus]:
    """Per-user guest credentials: a GuestCredentialRequest's CSR signed once by its cluster's CA."""
    return Controller(
        name="guestcredentialrequest",
        kind=GUEST_CREDENTIAL_REQUEST,
        spec_model=GuestCredentialRequestSpec,
        status_model=GuestCredentialRequestStatus,
        # Deletion runs in reverse: revoke the stored serial, then anything signed and never stored.
        resources=[UnstoredSignature(vault), GuestIdentity(), GuestCertificate(vault), GuestExpiry()],
        watches=[Watch(CA_CONFIG, waiting_guest_requests)],
        indexes=[
            Index(GUEST_CREDENTIAL_REQUEST, key.GUEST_CLUSTER_INDEX, by_field("status", "clusterID")),
            _by_cluster(CA_CONFIG),
        ],
        ready_condition="Issued",
    )


def build(settings: CertSettings) -> Sequence[Controller[Any, Any]]:
    vault = Vault(settings.vault.address, from_settings(settings.vault.auth), ca_cert=settings.vault.ca_cert)
    return [
        ca_controller(vault),
        cert_controller(vault, settings.certificates.min_reissue_interval),
        guest_controller(vault),
    ]
