"""Binds the cluster's flannel service account to the client role from the chart (reading nodes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flannel_operator import key
from flannel_operator.resources._object import ClusterObject
from operatorkit.kinds import CLUSTER_ROLE_BINDING

if TYPE_CHECKING:
    from flannel_operator.spec import FlannelContext
    from operatorkit import Object


class FlannelClusterRoleBinding(ClusterObject):
    kind = CLUSTER_ROLE_BINDING

    def manifest(self, ctx: FlannelContext) -> Object | None:
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": key.cluster_role_binding(ctx.name), "labels": key.labels(ctx.name)},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": key.CLIENT_CLUSTER_ROLE,
            },
            "subjects": [{"kind": "ServiceAccount", "name": key.SERVICE_ACCOUNT, "namespace": key.namespace(ctx.name)}],
        }
