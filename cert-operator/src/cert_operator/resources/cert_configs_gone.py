"""Deletion only, first: a CAConfig goes after the certificates it signed. Until the cluster's CertConfigs are
gone, the CA, its roles and its published certificate stay."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cert_operator.resources.cluster import cluster_cert_configs
from cert_operator.spec import CAConfigSpec, CAConfigStatus
from operatorkit import READY, RequeueAfter, Resource

if TYPE_CHECKING:
    from cert_operator.spec import CAContext


@dataclass
class CertConfigsGone(Resource[CAConfigSpec, CAConfigStatus]):
    def ensure_deleted(self, ctx: CAContext) -> None:
        cluster = ctx.recorded.cluster_id
        remaining = sorted(c["metadata"]["name"] for c in cluster_cert_configs(ctx, cluster)) if cluster else []
        if remaining:
            message = f"{len(remaining)} CertConfigs of the cluster remain: {remaining[:5]}"
            ctx.set_condition(READY, "False", "WaitingForCertConfigs", message)
            raise RequeueAfter(5, "CertConfigs remain")
