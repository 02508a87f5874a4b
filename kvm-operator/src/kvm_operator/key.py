"""Every name kvm-operator derives from a cluster id, in one place (Giant Swarm's ``key`` package).

A guest cluster's control plane lives in namespace ``<clusterID>``, its worker VMs' pods in ``<clusterID>-workers``
(cluster ids ending in ``-workers`` are refused, so no cluster's control plane takes another's workers' namespace);
its FlannelConfig and IngressConfig are cluster-scoped objects named ``<clusterID>``. Worker names derive from a
pool's name and an ordinal (``worker-<pool>-<n>``: a pool name is a DNS label, the ordinal digits only), so two
pools never derive one node name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import guestkit
from operatorkit import CLUSTER_LABEL, MANAGED_BY_LABEL

if TYPE_CHECKING:
    import ipaddress

MANAGER = "kvm-operator"
COMPONENT_LABEL = "app.kubernetes.io/component"
NAME_LABEL = "app.kubernetes.io/name"
CLUSTER_INDEX = "cluster"  # KVMConfigs by spec.clusterID; pods, CertConfigs, Secrets, StatefulSets by cluster label
POOL_LABEL = "kubeception.io/pool"  # a worker pool's objects, its VM pods and (in the guest) its Nodes
WORKERS_SUFFIX = guestkit.WORKERS_SUFFIX
ORGANIZATION_LABEL = "kubeception.io/organization"
TEAM_LABEL = "kubeception.io/team"
CA = guestkit.CA
ENCRYPTION_SECRET = "encryption-config"
ETCD, APISERVER, CONTROLLER_MANAGER, SCHEDULER = "etcd", "apiserver", "controller-manager", "scheduler"
COMPONENTS = (ETCD, APISERVER, CONTROLLER_MANAGER, SCHEDULER)

# One CertConfig (and Secret) per certificate: kubeadm's set, with the front-proxy client (the API server's
# aggregation layer): name → (role of the cluster's CA, common name).
CERTIFICATES = guestkit.certificate_set(front_proxy=True)
ETCD_MEMBERS = 3  # names for the largest control plane, so scaling 1 → 3 needs no new certificate


def namespace(cluster_id: str) -> str:
    """The namespace of the cluster's control plane (etcd, API server, controller-manager, scheduler)."""
    return cluster_id


def component_kubeconfig(component: str) -> str:
    return f"{component}-kubeconfig"


def etcd_peers(cluster_id: str) -> str:
    """The headless Service giving etcd members stable names."""
    return "etcd-peers"


def etcd_names(cluster_id: str) -> list[str]:
    """What the etcd members' certificates name: the Services and each member's stable name."""
    ns = namespace(cluster_id)
    peers = [f"etcd-{i}.{etcd_peers(cluster_id)}.{ns}.svc" for i in range(ETCD_MEMBERS)]
    return ["etcd", f"etcd.{ns}.svc", *peers, "localhost"]


def apiserver_names(cluster_id: str, hostname: str) -> list[str]:
    """What the API server's certificate names: the users' hostname, its Service, the guest's ``kubernetes``."""
    ns = namespace(cluster_id)
    return [
        hostname,
        "apiserver",
        f"apiserver.{ns}.svc",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "localhost",
    ]


def labels(cluster_id: str, component: str | None = None) -> dict[str, str]:
    found = {CLUSTER_LABEL: cluster_id, MANAGED_BY_LABEL: MANAGER}
    if component:
        found |= {NAME_LABEL: component, COMPONENT_LABEL: "control-plane"}
    return found


def metadata(cluster_id: str, name: str, component: str | None = None) -> dict[str, Any]:
    """An object's metadata in the cluster's control-plane namespace, with the cluster's labels."""
    return {"name": name, "namespace": namespace(cluster_id), "labels": labels(cluster_id, component)}


def selector(cluster_id: str, component: str) -> dict[str, str]:
    """What a component's pods are selected by (a subset of its labels: selectors are immutable)."""
    return {CLUSTER_LABEL: cluster_id, NAME_LABEL: component}


def managed_selector() -> str:
    return f"{MANAGED_BY_LABEL}={MANAGER}"


def api_hostname(cluster_id: str, base_domain: str) -> str:
    return f"api.{cluster_id}.{base_domain}"


def workers_namespace(cluster_id: str) -> str:
    """The namespace of the cluster's worker VM pods: privileged (taps, /dev/kvm), and holding nothing else."""
    return f"{cluster_id}{WORKERS_SUFFIX}"


def pool_workload(pool: str) -> str:
    """A pool's StatefulSet: its pods are ``worker-<pool>-<ordinal>``, each one VM and one guest Node."""
    return f"worker-{pool}"


def node_name(pool: str, ordinal: int) -> str:
    return f"{pool_workload(pool)}-{ordinal}"


def ordinal(node: str) -> int:
    """``worker-<pool>-<n>`` → n: :func:`node_name` read back."""
    return int(node.rsplit("-", 1)[1])


def node_certificate(node: str) -> str:
    """The node's CertConfig (and Secret) in the control-plane namespace: ``CN=system:node:<node>``."""
    return f"node-{node}"


def boot_secret(pool: str) -> str:
    """A pool's boot configurations (an Ignition config per node, key ``<node>.ign``) in the workers' namespace."""
    return f"{pool_workload(pool)}-boot"


def pool_labels(cluster_id: str, pool: str) -> dict[str, str]:
    return {**labels(cluster_id), POOL_LABEL: pool}


ADDON_LABEL = "kubeception.io/addon"  # on every object an add-on is made of, in the guest: what kvm-operator may touch
ADDON_MANAGER = "kvm-operator-addons"  # the field manager of its server-side applies in the guest
CLUSTER_DOMAIN = "cluster.local"


def cluster_dns(service_cidr: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    """The guest's CoreDNS Service address: the 10th of its Service network (kubeadm's rule), the kubelets'
    ``clusterDNS``."""
    return service_cidr[10]
