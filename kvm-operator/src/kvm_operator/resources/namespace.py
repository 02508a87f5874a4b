"""The control plane's namespace ``<clusterID>``: the first thing a cluster gets and the last it gives back. Its
name is the cluster's claim on the id across the mother — a second KVMConfig with the same id is refused here,
naming the first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvm_operator import key
from kvm_operator.resources._object import ClusterObject
from operatorkit.kinds import NAMESPACE

if TYPE_CHECKING:
    from kvm_operator.spec import KVMContext
    from operatorkit import Object


def tenant_labels(ctx: KVMContext) -> dict[str, str]:
    """Organization and team, for users to filter every object of their clusters by."""
    spec = ctx.spec
    found = {key.ORGANIZATION_LABEL: spec.organization, key.TEAM_LABEL: spec.team}
    return {label: value for label, value in found.items() if value}


class ControlPlaneNamespace(ClusterObject):
    kind = NAMESPACE

    def manifest(self, ctx: KVMContext) -> Object | None:
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": key.namespace(ctx.spec.cluster_id),
                "labels": {
                    **key.labels(ctx.spec.cluster_id),
                    **tenant_labels(ctx),
                    # Control-plane components run as non-root with no privileges.
                    "pod-security.kubernetes.io/enforce": "restricted",
                },
            },
        }
