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
        return True  # deleted with the CA, not later by the garbage collector: a successor finds the name free

    def manifest(self, ctx: CAContext) -> Object | None:
        if ctx.deleting:
            cluster = ctx.recorded.cluster_id
            return {"metadata": {"name": key.ca_config_map(cluster), "namespace": ctx.namespace}} if cluster else None
        bundle = ctx.status.trust_bundle
        if not bundle:
            return None
        cluster = ctx.spec.cluster_id
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": key.ca_config_map(cluster), "namespace": ctx.namespace, "labels": key.labels(cluster)},
            "data": {"ca.crt": bundle},
        }
