"""GuestCredentialRequest step: the CSR signed once, through the cluster's PKI mount, with the issuer's subject.

The signature comes from a role the issuer keeps in the mount for each access level (``guest-user-<access>``): any
common name, client authentication only, O fixed to the access level's group, the CSR's names ignored
(``use_csr_common_name``/``use_csr_sans`` off), a bounded max TTL. The common name is ``spec.user`` — the name the
mother authenticated, set at admission — never the CSR's. What Vault returns is checked against that before it is
stored (subject, the CSR's public key, the cluster's CA).

Nothing issued that is not stored: ``status.signingSince`` is written before the CSR goes to Vault and removed in
the write that stores certificate and serial together (``unstored_signature`` revokes what a failed write left).
A request holding its certificate is never signed again (the spec is immutable). Deleting the request revokes the
serial — which a guest API server does not check (it reads no CRL): the TTL is what bounds a leaked credential.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cert_operator import guest_policy, key, metrics, pem
from cert_operator.resources.guest import issued, revoke
from cert_operator.resources.guest_cluster import cluster_ca
from cert_operator.spec import GUEST_MAX_TTL, GuestCredentialRequestSpec, GuestCredentialRequestStatus
from operatorkit import Resource, TerminalError, timestamps

if TYPE_CHECKING:
    from cert_operator.resources.guest import GuestCA
    from cert_operator.spec import GuestContext
    from cert_operator.vault import Vault

ISSUED = "Issued"


def guest_role(organization: str) -> dict[str, Any]:
    """The Vault role guest credentials of one access level are signed with."""
    return {
        "allow_any_name": True,
        "enforce_hostnames": False,
        "allow_ip_sans": False,
        "allow_localhost": False,
        "allow_wildcard_certificates": False,
        "use_csr_common_name": False,
        "use_csr_sans": False,
        "server_flag": False,
        "client_flag": True,
        "code_signing_flag": False,
        "email_protection_flag": False,
        "organization": [organization],
        "key_type": "any",
        "max_ttl": GUEST_MAX_TTL,
        "no_store": False,
        "require_cn": True,
    }


@dataclass
class GuestCertificate(Resource[GuestCredentialRequestSpec, GuestCredentialRequestStatus]):
    vault: Vault

    def ensure_created(self, ctx: GuestContext) -> None:
        if issued(ctx):
            ctx.set_condition(ISSUED, "True", ISSUED, f"certificate {ctx.recorded.serial_number} for {ctx.spec.user}")
            return
        spec = ctx.spec
        user = guest_policy.check_user(spec.user)  # checked by GuestIdentity; here for the type
        csr = guest_policy.check_csr(spec.csr)
        cluster_id, ca = cluster_ca(ctx)
        self._check_ttl(spec, ca)
        mount, role = key.mount(cluster_id), key.guest_role(spec.access)
        self._ensure_role(mount, role, spec.organization)

        # Write-ahead: a signature this process does not live to store is found and revoked on the next pass.
        ctx.status.cluster_id, ctx.status.signing_since = cluster_id, timestamps.stamp(timestamps.now())
        ctx.set_condition(ISSUED, "False", "Signing", f"signing with role {role} of mount {mount}")
        ctx.save_status()
        params = {"ttl": f"{spec.ttl_seconds}s", "format": "pem", "exclude_cn_from_sans": True}
        signed = self.vault.call(
            f"sign with role {role}",
            lambda c: c.secrets.pki.sign_certificate(role, spec.csr, user, extra_params=params, mount_point=mount),
        )["data"]
        cert = pem.load(signed["certificate"])
        serial = pem.serial_hex(cert)
        problems = self._differences(cert, csr, user, spec.organization, ca)
        if problems:
            revoke(self.vault, ctx, cluster_id, serial)
            raise TerminalError(f"Vault signed {serial} with {'; '.join(problems)}: revoked", reason="NotAsRequested")
        status = ctx.status
        status.signing_since, status.certificate, status.ca = None, signed["certificate"].strip() + "\n", ca.trust
        status.serial_number, status.not_after = serial, timestamps.stamp(cert.not_valid_after_utc)
        ctx.set_condition(ISSUED, "True", ISSUED, f"certificate {serial} for {user} ({spec.organization})")
        try:
            ctx.save_status()  # certificate and serial in one write
        except Exception:
            try:
                revoke(self.vault, ctx, cluster_id, serial)  # not stored: not valid either
            except Exception:  # signingSince stays stored: the next pass finds and revokes it
                ctx.log.warning("could not revoke unstored certificate %s now; the next pass will", serial)
            raise
        metrics.issued_total.labels(cluster_id, "GuestCredential").inc()
        ctx.event(
            "Normal",
            ISSUED,
            f"guest credential {serial} for {user!r} ({spec.organization}) on cluster {spec.cluster}, valid until "
            f"{timestamps.stamp(cert.not_valid_after_utc)}",
        )

    @staticmethod
    def _check_ttl(spec: GuestCredentialRequestSpec, ca: GuestCA) -> None:
        if spec.ttl_seconds > GUEST_MAX_TTL:
            raise TerminalError(
                f"ttl {spec.ttl} is longer than the issuer's limit of {GUEST_MAX_TTL // 3600}h", reason="TTLTooLong"
            )
        until = pem.load(ca.certificate).not_valid_after_utc
        if timestamps.now() + datetime.timedelta(seconds=spec.ttl_seconds) > until:
            raise TerminalError(
                f"ttl {spec.ttl} would outlive the cluster's CA (valid until {timestamps.stamp(until)})",
                reason="TTLTooLong",
            )

    def _ensure_role(self, mount: str, role: str, organization: str) -> None:
        """The role as :func:`guest_role` says, written only when it differs (one read per signature)."""
        desired = guest_role(organization)
        current = self.vault.read_or_none(f"read role {role}", f"{mount}/roles/{role}")
        data = (current or {}).get("data") or {}
        if current is not None and all(_same(data.get(field), value) for field, value in desired.items()):
            return
        self.vault.call(
            f"write role {role}", lambda c: c.secrets.pki.create_or_update_role(role, desired, mount_point=mount)
        )

    @staticmethod
    def _differences(cert: Any, csr: Any, user: str, organization: str, ca: GuestCA) -> list[str]:
        problems = pem.differences(cert, user, [], [], [organization])
        subject_orgs = {str(a.value) for a in cert.subject.get_attributes_for_oid(pem.ORGANIZATION)}
        if subject_orgs != {organization}:
            problems.append(f"organizations {sorted(subject_orgs)} instead of {organization!r}")
        if guest_policy.public_key_der(cert) != guest_policy.public_key_der(csr):
            problems.append("a public key that is not the CSR's")
        if not any(pem.issued_by(cert, pem.load(trusted)) for trusted in pem.split(ca.trust)):
            problems.append("a signature of none of the cluster's trusted CAs")
        return problems

    def ensure_deleted(self, ctx: GuestContext) -> None:
        recorded = ctx.recorded
        if recorded.cluster_id and recorded.serial_number:
            revoke(self.vault, ctx, recorded.cluster_id, recorded.serial_number)


def _same(have: Any, want: Any) -> bool:
    if isinstance(want, int) and not isinstance(want, bool):
        return int(have or 0) == want
    return bool(have == want)
