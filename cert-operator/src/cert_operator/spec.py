"""The CAConfig and CertConfig custom resources."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

import pydantic

from cert_operator.key import GUEST_ROLE_PREFIX
from operatorkit import DNS_LABEL, DNS_SUBDOMAIN, Context, Kind, Status

GUEST_CREDENTIAL_REQUEST = Kind("kubeception.io/v1alpha1", "GuestCredentialRequest", "guestcredentialrequests")
KVM_CONFIG = Kind("kubeception.io/v1alpha1", "KVMConfig", "kvmconfigs")
AWS_CONFIG = Kind("kubeception.io/v1alpha1", "AWSConfig", "awsconfigs")
CLUSTER_KINDS = (KVM_CONFIG, AWS_CONFIG)
"""The guest clusters a GuestCredentialRequest may name (read by name in the request's own namespace only)."""
_DNS_NAME = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
_GUEST_TTL = r"^[1-9][0-9]{0,3}(m|h)$"
_DURATION = re.compile(r"^([0-9]{1,9})(s|m|h|d)$")
MINUTE, HOUR, DAY = 60, 3600, 86400

# Bounds a person would set on purpose; anything outside is a typo or an attack on the issuer.
CA_TTL = (HOUR, 30 * 365 * DAY)
CERT_TTL = (MINUTE, 10 * 365 * DAY)
OVERLAP = (0, DAY)
GUEST_MAX_TTL = DAY
"""The longest guest credential the issuer signs, whatever an organization allows: a guest API server does not
check revocation, so a credential's TTL is the only bound on a leaked one."""
KEY_BITS = {"rsa": (2048, 3072, 4096), "ec": (256, 384, 521)}
"""The key sizes Vault issues CAs with, per key type."""


def seconds(duration: str) -> int:
    """``"90s"``, ``"15m"``, ``"24h"``, ``"30d"`` → seconds."""
    match = _DURATION.match(duration)
    if not match:
        raise ValueError(f"invalid duration {duration!r}: use a number and s, m, h or d")
    return int(match[1]) * {"s": 1, "m": MINUTE, "h": HOUR, "d": DAY}[match[2]]


def _within(value: str | None, bounds: tuple[int, int], what: str) -> None:
    if value is not None and not bounds[0] <= seconds(value) <= bounds[1]:
        raise ValueError(f"{what} {value} is outside {bounds[0]}s to {bounds[1]}s")


Duration = Annotated[str, pydantic.Field(pattern=_DURATION.pattern, max_length=10)]
DNSName = Annotated[str, pydantic.Field(pattern=_DNS_NAME, max_length=253)]
Printable = Annotated[str, pydantic.Field(pattern=_PRINTABLE, min_length=1, max_length=64)]


class _Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", populate_by_name=True)


class Role(_Model):
    """A Vault PKI role: what certificates of one service of the cluster may say."""

    name: str = pydantic.Field(pattern=DNS_LABEL, max_length=63)
    allowed_domains: list[DNSName] = pydantic.Field(default_factory=list, alias="allowedDomains", max_length=50)
    allow_subdomains: bool = pydantic.Field(default=False, alias="allowSubdomains")
    allow_bare_domains: bool = pydantic.Field(default=False, alias="allowBareDomains")
    allow_ip_sans: bool = pydantic.Field(default=False, alias="allowIPSANs")
    allow_any_name: bool = pydantic.Field(default=False, alias="allowAnyName")
    organizations: list[Printable] = pydantic.Field(default_factory=list, max_length=10)
    max_ttl: Duration | None = pydantic.Field(default=None, alias="maxTTL")

    @pydantic.model_validator(mode="after")
    def _bounded(self) -> Role:
        _within(self.max_ttl, CERT_TTL, "maxTTL")
        return self


class Rotation(_Model):
    """A staged CA rotation; a new ``id`` starts one. ``overlap`` is how long each stage is left to propagate
    (kubelets refresh mounted Secrets within about a minute) before the next one starts."""

    id: str = pydantic.Field(pattern=DNS_LABEL, max_length=40)
    overlap: Duration = "5m"

    @pydantic.model_validator(mode="after")
    def _bounded(self) -> Rotation:
        _within(self.overlap, OVERLAP, "overlap")
        return self


class CAConfigSpec(_Model):
    cluster_id: str = pydantic.Field(alias="clusterID", pattern=DNS_LABEL, max_length=40)
    common_name: Printable = pydantic.Field(alias="commonName")
    ttl: Duration = "87600h"
    key_type: Literal["rsa", "ec"] = pydantic.Field(default="rsa", alias="keyType")
    key_bits: int = pydantic.Field(
        default=2048,
        alias="keyBits",
        json_schema_extra={"enum": [bits for sizes in KEY_BITS.values() for bits in sizes]},
    )
    """One of :data:`KEY_BITS` for the key type (checked below, with a message that says which)."""
    roles: list[Role] = pydantic.Field(default_factory=list, max_length=32)
    rotation: Rotation | None = None

    @pydantic.model_validator(mode="after")
    def _valid(self) -> CAConfigSpec:
        _within(self.ttl, CA_TTL, "ttl")
        allowed = KEY_BITS[self.key_type]
        if self.key_bits not in allowed:
            raise ValueError(f"keyBits {self.key_bits} is not valid for {self.key_type}: use one of {allowed}")
        names = [role.name for role in self.roles]
        if len(names) != len(set(names)):
            raise ValueError("role names must be unique")
        if reserved := [name for name in names if name.startswith(GUEST_ROLE_PREFIX)]:
            raise ValueError(
                f"role names starting with {GUEST_ROLE_PREFIX} are the guest credential issuer's: {reserved}"
            )
        return self

    def role(self, name: str) -> Role | None:
        return next((role for role in self.roles if role.name == name), None)


class CertConfigSpec(_Model):
    cluster_id: str = pydantic.Field(alias="clusterID", pattern=DNS_LABEL, max_length=40)
    role: str = pydantic.Field(pattern=DNS_LABEL, max_length=63)
    common_name: Printable = pydantic.Field(alias="commonName")
    alt_names: list[DNSName] = pydantic.Field(default_factory=list, alias="altNames", max_length=100)
    ip_sans: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = pydantic.Field(
        default_factory=list, alias="ipSANs", max_length=50
    )
    organizations: list[Printable] = pydantic.Field(default_factory=list, max_length=10)
    ttl: Duration = "720h"
    renew_before: Duration | None = pydantic.Field(default=None, alias="renewBefore")
    secret_name: str | None = pydantic.Field(default=None, alias="secretName", pattern=DNS_SUBDOMAIN, max_length=253)

    @pydantic.model_validator(mode="after")
    def _renew_before_ttl(self) -> CertConfigSpec:
        _within(self.ttl, CERT_TTL, "ttl")
        if self.renew_before is not None and seconds(self.renew_before) >= seconds(self.ttl):
            raise ValueError(f"renewBefore {self.renew_before} must be shorter than ttl {self.ttl}")
        return self

    @property
    def renew_before_seconds(self) -> int:
        """Default: a third of the TTL."""
        return seconds(self.renew_before) if self.renew_before else seconds(self.ttl) // 3


class IssuerStatus(_Model):
    issuer: str
    issuer_id: str = pydantic.Field(alias="issuerID")
    serial: str
    not_before: str = pydantic.Field(alias="notBefore")
    not_after: str = pydantic.Field(alias="notAfter")
    certificate: str


class RotationStatus(_Model):
    id: str
    overlap: str
    phase: Literal["Trusting", "Reissuing", "Retiring", "Complete"]
    old_issuer_id: str = pydantic.Field(alias="oldIssuerID")
    old_serial: str = pydantic.Field(alias="oldSerial")
    new_issuer_id: str = pydantic.Field(alias="newIssuerID")
    new_serial: str = pydantic.Field(alias="newSerial")
    trust_bundle: str | None = pydantic.Field(default=None, alias="trustBundle")
    started_at: str = pydantic.Field(alias="startedAt")
    settled_at: str | None = pydantic.Field(default=None, alias="settledAt")
    completed_at: str | None = pydantic.Field(default=None, alias="completedAt")


class CAConfigStatus(Status):
    cluster_id: str | None = pydantic.Field(default=None, alias="clusterID")
    mount: str | None = None
    roles: list[str] | None = None
    """None until the roles are first written: a CA without roles records an empty list."""
    ca: IssuerStatus | None = None
    trust_bundle: str | None = pydantic.Field(default=None, alias="trustBundle")
    rotation: RotationStatus | None = None


class CertConfigStatus(Status):
    cluster_id: str | None = pydantic.Field(default=None, alias="clusterID")
    secret_name: str | None = pydantic.Field(default=None, alias="secretName")
    issued_at: str | None = pydantic.Field(default=None, alias="issuedAt")
    pending_revocations: list[str] | None = pydantic.Field(default=None, alias="pendingRevocations")
    """Serials issued or replaced but not yet revoked (Vault was unreachable): revoked before anything else."""
    serial: str | None = None
    not_before: str | None = pydantic.Field(default=None, alias="notBefore")
    not_after: str | None = pydantic.Field(default=None, alias="notAfter")
    next_renewal: str | None = pydantic.Field(default=None, alias="nextRenewal")
    ca_serial: str | None = pydantic.Field(default=None, alias="caSerial")
    trust_bundle_hash: str | None = pydantic.Field(default=None, alias="trustBundleHash")


class GuestCredentialRequestSpec(_Model):
    """A user's request for a client certificate to a guest cluster of the request's organization (namespace).
    ``user`` and ``groups`` are set at admission from the mother's authentication; the certificate's subject is the
    issuer's choice (CN = user, O = the access level's group), never the CSR's."""

    cluster: str = pydantic.Field(pattern=DNS_LABEL, min_length=3, max_length=30)
    access: Literal["view", "edit", "admin", "masters"] = "view"
    ttl: str = pydantic.Field(default="1h", pattern=_GUEST_TTL, max_length=6)
    user: str | None = pydantic.Field(default=None, max_length=253)
    groups: list[Annotated[str, pydantic.Field(max_length=253)]] | None = pydantic.Field(default=None, max_length=64)
    csr: str = pydantic.Field(pattern=r"^-----BEGIN CERTIFICATE REQUEST-----", max_length=4096)

    @property
    def organization(self) -> str:
        """The certificate's O: the guest group of the access level (system:masters for masters)."""
        return "system:masters" if self.access == "masters" else f"kubeception:{self.access}"

    @property
    def ttl_seconds(self) -> int:
        return seconds(self.ttl)


class GuestCredentialRequestStatus(Status):
    cluster_id: str | None = pydantic.Field(default=None, alias="clusterID")
    """The cluster's id (its PKI mount), recorded before anything is signed: deletion revokes there."""
    signing_since: str | None = pydantic.Field(default=None, alias="signingSince")
    """Written before a CSR is sent to Vault and removed in the write that stores the certificate: found set with no
    certificate, it means a signature may exist that was never stored — found in the mount and revoked."""
    certificate: str | None = None
    ca: str | None = None
    serial_number: str | None = pydantic.Field(default=None, alias="serialNumber")
    not_after: str | None = pydantic.Field(default=None, alias="notAfter")


CAContext = Context[CAConfigSpec, CAConfigStatus]
CertContext = Context[CertConfigSpec, CertConfigStatus]
GuestContext = Context[GuestCredentialRequestSpec, GuestCredentialRequestStatus]
