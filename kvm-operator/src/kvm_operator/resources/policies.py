"""What the control plane's pods admit (NetworkPolicies: each component only what it needs) and how many may be
disrupted at once (PodDisruptionBudgets: one, so a node drain never takes etcd's quorum or the last API server)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kvm_operator import key
from kvm_operator.resources._object import ClusterObject
from kvm_operator.resources.apiserver import PORT as API_PORT
from kvm_operator.resources.etcd import CLIENT_PORT, PEER_PORT
from operatorkit.kinds import NETWORK_POLICY, POD_DISRUPTION_BUDGET

if TYPE_CHECKING:
    from kvm_operator.spec import KVMContext
    from operatorkit import Object


def _from(cluster_id: str, component: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": key.selector(cluster_id, component)}}


def ingress_rules(cluster_id: str, component: str) -> list[dict[str, Any]]:
    """etcd: clients from the API servers, peers from etcd; API server: anyone on its port (HAProxy, workers, the
    other components); controller-manager and scheduler: nothing (the kubelet's probes are not policed)."""
    if component == key.ETCD:
        return [
            {"from": [_from(cluster_id, key.APISERVER), _from(cluster_id, key.ETCD)], "ports": [{"port": CLIENT_PORT}]},
            {"from": [_from(cluster_id, key.ETCD)], "ports": [{"port": PEER_PORT}]},
        ]
    if component == key.APISERVER:
        return [{"ports": [{"port": API_PORT}]}]
    return []


@dataclass
class ComponentNetworkPolicy(ClusterObject):
    kind = NETWORK_POLICY
    component: str = ""

    @property
    def name(self) -> str:
        return f"network-policy-{self.component}"

    def manifest(self, ctx: KVMContext) -> Object | None:
        cluster = ctx.spec.cluster_id
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": key.metadata(cluster, self.component),
            "spec": {
                "podSelector": {"matchLabels": key.selector(cluster, self.component)},
                "policyTypes": ["Ingress"],
                "ingress": ingress_rules(cluster, self.component),
            },
        }


@dataclass
class DisruptionBudget(ClusterObject):
    kind = POD_DISRUPTION_BUDGET
    component: str = ""

    @property
    def name(self) -> str:
        return f"disruption-budget-{self.component}"

    def manifest(self, ctx: KVMContext) -> Object | None:
        cluster = ctx.spec.cluster_id
        return {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": key.metadata(cluster, self.component),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": key.selector(cluster, self.component)}},
        }
