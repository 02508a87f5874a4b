"""ConfigMap ``<cluster>-ca`` with the trusted CA certificates (two during a rotation), for anything that must
trust the cluster's CA."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cert_operator import key
from cert_operator.spec import CAConfigSpec, CAConfigStatus
from operatorkit import ObjectResource
from operatorkit.kinds import CONFIG_MAP

if TYPE_CHECKING:
    from cert_operator.spec import CAContext
    from operatorkit import Kind, Object


class PublishedCA(ObjectResource[CAConfigSpec, CAConfigStatus]):
    kind = CONFIG_MAP

    def needs_finalizer(self, primary: Kind) -> bool:
        return False

    def manifest(self, ctx: CAContext) -> Object | None:
        bundle = ctx.status.get("trustBundle")
        if ctx.deleting or not bundle:
            return None  # owned: garbage-collected with the CAConfig
        cluster = ctx.spec.cluster_id
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": key.ca_config_map(cluster), "namespace": ctx.namespace, "labels": key.labels(cluster)},
            "data": {"ca.crt": bundle},
        }
