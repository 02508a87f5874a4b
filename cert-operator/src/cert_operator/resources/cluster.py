"""What the CAConfig steps share: the CertConfigs of the CAConfig's cluster, from the indexed cache."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cert_operator import key
from guestkit import CERT_CONFIG

if TYPE_CHECKING:
    from cert_operator.spec import CAContext
    from operatorkit import Object


def cluster_cert_configs(ctx: CAContext, cluster: str) -> list[Object]:
    """The CertConfigs of ``cluster`` in this CAConfig's namespace."""
    return [
        c
        for c in ctx.cache(CERT_CONFIG).by_index(key.CLUSTER_INDEX, cluster)
        if c["metadata"].get("namespace") == ctx.namespace
    ]
