"""A signature that may exist but was never stored (the process stopped, or the status write failed, between
Vault's answer and the write recording it): found in the cluster's mount and revoked before anything else.

``status.signingSince`` is written before a CSR goes to Vault and removed in the very write that stores the
certificate and its serial. Found set with no certificate, every certificate of the mount carrying this request's
public key and issued since then is revoked (but a serial another request of the cluster has stored) — a scan of
the mount, costly but only on this rare path. Nothing issued that is not stored.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cert_operator import guest_policy, key, pem
from cert_operator.resources.guest import revoke
from cert_operator.spec import GUEST_CREDENTIAL_REQUEST, GuestCredentialRequestSpec, GuestCredentialRequestStatus
from operatorkit import Resource, timestamps

if TYPE_CHECKING:
    from cert_operator.spec import GuestContext
    from cert_operator.vault import Vault

SKEW = datetime.timedelta(minutes=2)
"""Vault backdates notBefore (30 s by default); clocks differ a little."""


def stored_serials(ctx: GuestContext, cluster_id: str) -> set[str]:
    """The serials the cluster's requests have stored (from the cache, indexed by status.clusterID)."""
    return {
        str(serial)
        for request in ctx.cache(GUEST_CREDENTIAL_REQUEST).by_index(key.GUEST_CLUSTER_INDEX, cluster_id)
        if (serial := (request.get("status") or {}).get("serialNumber"))
    }


@dataclass
class UnstoredSignature(Resource[GuestCredentialRequestSpec, GuestCredentialRequestStatus]):
    vault: Vault

    def ensure_created(self, ctx: GuestContext) -> None:
        self._revoke_unstored(ctx)

    def ensure_deleted(self, ctx: GuestContext) -> None:
        self._revoke_unstored(ctx)

    def _revoke_unstored(self, ctx: GuestContext) -> None:
        recorded = ctx.recorded
        if not recorded.signing_since or recorded.serial_number or not recorded.cluster_id:
            return
        spec = ctx.valid_spec
        try:
            wanted = guest_policy.public_key_der(guest_policy.check_csr(spec.csr)) if spec else None
        except guest_policy.Refused:
            wanted = None  # a CSR the issuer refuses was never sent to Vault
        if wanted is not None:
            since = timestamps.parse(recorded.signing_since) - SKEW
            stored = stored_serials(ctx, recorded.cluster_id)
            for serial in self._signed_for(recorded.cluster_id, wanted, since):
                if serial.replace("-", ":") in stored:
                    continue  # another request's (one key used twice): stored, so not this one's
                revoke(self.vault, ctx, recorded.cluster_id, serial)
                ctx.event("Warning", "UnstoredRevoked", f"revoked {serial}: signed for this request, never stored")
        ctx.status.signing_since = None
        ctx.save_status()  # before signing again: the scan is not repeated for what it has just revoked

    def _signed_for(self, cluster_id: str, wanted: bytes, since: datetime.datetime) -> list[str]:
        mount = key.mount(cluster_id)
        serials = self.vault.list_keys(
            "list certificates", lambda c: c.secrets.pki.list_certificates(mount_point=mount)
        )
        found = []
        for serial in serials:
            data = self.vault.read_or_none(f"read certificate {serial}", f"{mount}/cert/{serial}")
            if data is None or int(data["data"].get("revocation_time") or 0) > 0:
                continue
            cert = pem.load(data["data"]["certificate"])
            if cert.not_valid_before_utc >= since and guest_policy.public_key_der(cert) == wanted:
                found.append(serial)
        return found
