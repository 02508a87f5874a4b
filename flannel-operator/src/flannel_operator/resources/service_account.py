"""The flannel clients' service account, in the cluster's namespace."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flannel_operator import key
from flannel_operator.resources._object import ClusterObject
from operatorkit.kinds import SERVICE_ACCOUNT

if TYPE_CHECKING:
    from flannel_operator.spec import FlannelContext
    from operatorkit import Object


class FlannelServiceAccount(ClusterObject):
    kind = SERVICE_ACCOUNT

    def manifest(self, ctx: FlannelContext) -> Object | None:
        return {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": key.SERVICE_ACCOUNT,
                "namespace": key.namespace(ctx.name),
                "labels": key.labels(ctx.name),
            },
        }
