"""First in the list, so the last step of a deletion: everything of the cluster is gone."""

from __future__ import annotations

from aws_operator import metrics
from aws_operator.spec import AWSConfigSpec, AWSConfigStatus, AWSContext
from operatorkit import Resource


class DeletionDone(Resource[AWSConfigSpec, AWSConfigStatus]):
    def ensure_deleted(self, ctx: AWSContext) -> None:
        metrics.forget(ctx.namespace or "", ctx.name)
        ctx.event("Normal", "Deleted", f"cluster {ctx.name}: stack, bucket, key and PKI gone")
