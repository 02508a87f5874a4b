"""What the GuestCredentialRequest steps share: whether the request holds its certificate, the cluster's Ready CA,
and revocation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cert_operator import key, metrics, pem
from cert_operator.vault import VaultRefused
from guestkit import CA_CONFIG
from operatorkit import READY, is_true, owned_by

if TYPE_CHECKING:
    from cert_operator.spec import GuestContext
    from cert_operator.vault import Vault
    from operatorkit import Object


def issued(ctx: GuestContext) -> bool:
    """Issue once: a request whose status holds a certificate is never signed again."""
    return bool(ctx.recorded.serial_number and ctx.recorded.certificate)


@dataclass(frozen=True)
class GuestCA:
    """The cluster's CA as its CAConfig reports it: Ready, with the mount's active CA and trust bundle."""

    config: Object
    certificate: str
    trust: str


def owned_ca(ctx: GuestContext, cluster: Object, cluster_id: str) -> list[Object]:
    """The CAConfigs of ``cluster_id`` that ``cluster`` (the KVMConfig or AWSConfig) owns — never a CAConfig of the
    same id that someone else made: its mount would be another's."""
    return [ca for ca in ctx.cache(CA_CONFIG).by_index(key.CLUSTER_INDEX, cluster_id) if owned_by(ca, cluster)]


def ready_ca(configs: list[Object], cluster_id: str) -> GuestCA | None:
    for config in configs:
        status = config.get("status") or {}
        if is_true(status, READY) and status.get("ca") and status.get("mount") == key.mount(cluster_id):
            active = status["ca"]["certificate"]
            return GuestCA(config, active, status.get("trustBundle") or pem.bundle([active]))
    return None


def revoke(vault: Vault, ctx: GuestContext, cluster_id: str, serial: str) -> None:
    """Revoke ``serial`` in the cluster's mount. A serial or mount Vault no longer knows (the cluster is gone, and
    its CA with it) has nothing left to revoke: said in an Event, never holding a deletion up. Vault being
    unreachable raises, and the step is retried."""
    mount = key.mount(cluster_id)
    try:
        vault.call(f"revoke {serial}", lambda c: c.secrets.pki.revoke_certificate(serial, mount_point=mount))
    except VaultRefused as exc:
        ctx.event("Warning", "NotRevoked", str(exc))
        return
    metrics.revocations_total.labels(cluster_id).inc()
    ctx.event("Normal", "Revoked", f"revoked guest credential {serial} of {ctx.recorded.cluster_id or cluster_id}")
