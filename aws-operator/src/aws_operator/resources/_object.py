"""The cluster's objects on the mother (its namespace and PKI): owned by its AWSConfig through owner labels (they
live in the cluster's namespace, not the AWSConfig's), so deleted by us, in order, each waited for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_operator.spec import AWSConfigSpec, AWSConfigStatus, AWSContext
from operatorkit import ObjectResource, RequeueAfter, owned_by

if TYPE_CHECKING:
    from operatorkit.kinds import Kind


@dataclass
class ClusterObject(ObjectResource[AWSConfigSpec, AWSConfigStatus]):
    def needs_finalizer(self, primary: Kind) -> bool:
        return True

    def ensure_deleted(self, ctx: AWSContext) -> None:
        super().ensure_deleted(ctx)
        current = self.current_state(ctx)
        if current is not None and owned_by(current, ctx.obj):
            raise RequeueAfter(2, f"waiting for {self.kind.kind} {current['metadata']['name']} to go")
