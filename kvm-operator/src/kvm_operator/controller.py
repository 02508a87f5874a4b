"""The KVMConfig controller: its resources in creation order (deletion runs them in reverse, each step waiting for
what it deleted to be gone — a tier of objects that need no order among themselves deleted and waited for at once).

Creation: the guest's ranges checked against the platform's plan → the namespace (the claim on the cluster id) →
the API hostname's claim → the target version → PKI (CAConfig, CertConfigs) → the
network (FlannelConfig) → encryption key, component kubeconfigs, Services, NetworkPolicies, disruption budgets →
etcd, API server, controller-manager, scheduler (in upgrade order) → the API endpoint (IngressConfig) → the admin
kubeconfig → the workers' namespace, node certificates, boot configurations, worker pools → the add-ons in the
guest (kube-proxy, CoreDNS) → status. Deletion
therefore goes: the worker VMs (not drained: the guest goes) → their boot Secrets and certificates → their
namespace → the route → the control plane with its Services, policies, budgets, key and kubeconfigs (one tier) →
the network and the PKI (one tier; cert-operator revokes and removes the mount) → the hostname's claim → the
namespace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from guestkit import CA_CONFIG, CERT_CONFIG, GuestKubeconfig, pki_children
from kvm_operator import key
from kvm_operator.guest import GuestClients
from kvm_operator.resources.addons import Addons
from kvm_operator.resources.apiserver import APIServer, APIServerService
from kvm_operator.resources.boot_configs import BootConfigs
from kvm_operator.resources.children import APIEndpoint, ClusterNetwork
from kvm_operator.resources.components import ComponentKubeconfigs, ControllerManager, Scheduler
from kvm_operator.resources.deletion import DeletionDone
from kvm_operator.resources.encryption import EncryptionKey
from kvm_operator.resources.etcd import EtcdClientService, EtcdCluster, EtcdPeerService
from kvm_operator.resources.namespace import ControlPlaneNamespace
from kvm_operator.resources.node_certificates import NodeCertificates
from kvm_operator.resources.plan import APIHostnameClaim, GuestAddresses
from kvm_operator.resources.policies import ComponentNetworkPolicy, DisruptionBudget
from kvm_operator.resources.status import ClusterStatus
from kvm_operator.resources.version import TargetVersion
from kvm_operator.resources.worker_pools import WorkerPools
from kvm_operator.resources.workers_namespace import WorkersNamespace
from kvm_operator.shared import FLANNEL_CONFIG, INGRESS_CONFIG, Shared
from kvm_operator.spec import KVM_CONFIG, KVMConfigSpec, KVMConfigStatus, deletion_spec
from operatorkit import CLUSTER_LABEL, Controller, DeletedTogether, Index, Watch, by_field, by_label, object_key
from operatorkit.kinds import (
    CONFIG_MAP,
    DEPLOYMENT,
    NAMESPACE,
    NETWORK_POLICY,
    POD,
    POD_DISRUPTION_BUDGET,
    SECRET,
    SERVICE,
    STATEFUL_SET,
)
from operatorkit.platform import DOMAIN_CLAIM, DOMAIN_CLAIM_INDEX

if TYPE_CHECKING:
    from collections.abc import Sequence

    from kvm_operator.settings import KVMSettings
    from operatorkit import CacheReader, DeletedInOrder, Object, Resource


def of_cluster(obj: Object, primaries: CacheReader) -> list[str]:
    """The KVMConfig of the cluster ``obj`` belongs to (by its cluster label)."""
    cluster = obj["metadata"].get("labels", {}).get(CLUSTER_LABEL, "")
    return [object_key(config) for config in primaries.by_index(key.CLUSTER_INDEX, cluster)]


def together(
    tier: str, *members: DeletedInOrder[KVMConfigSpec, KVMConfigStatus]
) -> list[Resource[KVMConfigSpec, KVMConfigStatus]]:
    """A deletion tier: ``members`` deleted at once, then waited for together."""
    return [DeletedTogether(tier, members), *members]


def kvm_controller(shared: Shared, **overrides: Any) -> Controller[KVMConfigSpec, KVMConfigStatus]:
    guests = GuestClients()  # one client per guest, for its workers and its add-ons
    resources: list[Resource[KVMConfigSpec, KVMConfigStatus]] = [
        DeletionDone(),
        GuestAddresses(shared),
        ControlPlaneNamespace(shared),
        APIHostnameClaim(shared),
        TargetVersion(shared),
        *together(
            "children",  # cert-operator keeps the CA until its certificates are gone
            *pki_children(shared, key.CERTIFICATES),
            ClusterNetwork(shared),
        ),
        *together(
            "control-plane",
            EncryptionKey(shared),
            ComponentKubeconfigs(shared),
            EtcdPeerService(shared),
            EtcdClientService(shared),
            APIServerService(shared),
            *(ComponentNetworkPolicy(shared, component=c) for c in key.COMPONENTS),
            *(DisruptionBudget(shared, component=c) for c in (key.ETCD, key.APISERVER)),
            EtcdCluster(shared),
            APIServer(shared),
            ControllerManager(shared),
            Scheduler(shared),
        ),
        APIEndpoint(shared),
        GuestKubeconfig(shared),
        WorkersNamespace(shared),
        NodeCertificates(shared),
        BootConfigs(shared),
        WorkerPools(shared, guests=guests),
        Addons(shared, guests=guests),
        ClusterStatus(shared),
    ]
    return Controller(
        name="kvmconfig",
        kind=KVM_CONFIG,
        spec_model=KVMConfigSpec,
        status_model=KVMConfigStatus,
        deletion_spec=deletion_spec,
        resources=resources,
        owns=[
            NAMESPACE,
            CA_CONFIG,
            CERT_CONFIG,
            FLANNEL_CONFIG,
            INGRESS_CONFIG,
            SECRET,
            CONFIG_MAP,
            SERVICE,
            NETWORK_POLICY,
            POD_DISRUPTION_BUDGET,
            STATEFUL_SET,
            DEPLOYMENT,
            DOMAIN_CLAIM,
        ],
        owned_selector=key.managed_selector(),
        # The control plane's and the worker VMs' pods (not owned: their ReplicaSets and StatefulSets own them):
        # why one does not run is in status; a VM pod gone or restarted moves its pool on.
        watches=[Watch(POD, of_cluster, selector=key.managed_selector())],
        indexes=[
            DOMAIN_CLAIM_INDEX,
            Index(KVM_CONFIG, key.CLUSTER_INDEX, by_field("spec", "clusterID")),
            *(
                Index(kind, key.CLUSTER_INDEX, by_label(CLUSTER_LABEL))
                for kind in (POD, CERT_CONFIG, SECRET, STATEFUL_SET)
            ),
        ],
        **overrides,
    )


def build(settings: KVMSettings) -> Sequence[Controller[KVMConfigSpec, KVMConfigStatus]]:
    return [kvm_controller(Shared(settings))]
