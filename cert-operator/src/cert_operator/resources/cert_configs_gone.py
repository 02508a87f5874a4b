"""Deletion only, first: a CAConfig goes after the certificates it signed. Until the cluster's CertConfigs that hold
a certificate of its CA are gone (each revokes its own), the CA, its roles and its published certificate stay.

Only those are waited for: a CertConfig that holds nothing from the CA — refused (an unknown role, a TTL beyond the
role's, a name the issuer refuses, a Secret another owns) or not issued yet — needs nothing of it to be deleted, and
must not hold the CA's deletion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cert_operator.resources.cluster import cluster_cert_configs
from cert_operator.spec import CAConfigSpec, CAConfigStatus
from operatorkit import READY, RequeueAfter, Resource

if TYPE_CHECKING:
    from cert_operator.spec import CAContext
    from operatorkit import Object


def holds_certificate(cert_config: Object) -> bool:
    """Whether a CertConfig holds a certificate from its cluster's mount, or a serial still to revoke there."""
    status = cert_config.get("status") or {}
    return bool(status.get("serial") or status.get("pendingRevocations"))


@dataclass
class CertConfigsGone(Resource[CAConfigSpec, CAConfigStatus]):
    def ensure_deleted(self, ctx: CAContext) -> None:
        cluster = ctx.recorded.cluster_id
        found = cluster_cert_configs(ctx, cluster) if cluster else []
        remaining = sorted(c["metadata"]["name"] for c in found if holds_certificate(c))
        if remaining:
            message = f"{len(remaining)} CertConfigs hold certificates of the cluster's CA: {remaining[:5]}"
            ctx.set_condition(READY, "False", "WaitingForCertConfigs", message)
            raise RequeueAfter(5, "CertConfigs holding certificates remain")
