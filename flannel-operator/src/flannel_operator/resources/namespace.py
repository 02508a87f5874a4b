"""The cluster's namespace: flannel DaemonSet, cleanup Jobs, their service account and Secret live there."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flannel_operator import key
from flannel_operator.resources._object import ClusterObject
from operatorkit.kinds import NAMESPACE

if TYPE_CHECKING:
    from flannel_operator.spec import FlannelContext
    from operatorkit import Object


class ClusterNamespace(ClusterObject):
    kind = NAMESPACE

    def manifest(self, ctx: FlannelContext) -> Object | None:
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": key.namespace(ctx.name),
                # flanneld and the bridge setup need the host network and NET_ADMIN.
                "labels": {**key.labels(ctx.name), "pod-security.kubernetes.io/enforce": "privileged"},
            },
        }
