"""The cluster's namespace ``<clusterID>`` on the mother: its claim on the id (a KVMConfig or another AWSConfig
with the same id is refused here, naming the owner) and the home of its PKI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_operator import key
from aws_operator.resources._object import ClusterObject
from operatorkit.kinds import NAMESPACE

if TYPE_CHECKING:
    from aws_operator.spec import AWSContext
    from operatorkit import Object


class ClusterNamespace(ClusterObject):
    kind = NAMESPACE

    def manifest(self, ctx: AWSContext) -> Object | None:
        spec = ctx.spec
        tenant = {key.ORGANIZATION_LABEL: spec.organization, key.TEAM_LABEL: spec.team}
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": key.namespace(spec.cluster_id),
                "labels": {
                    **key.labels(spec.cluster_id),
                    **{label: value for label, value in tenant.items() if value},
                    "pod-security.kubernetes.io/enforce": "restricted",  # it holds Secrets, never pods
                },
            },
        }
