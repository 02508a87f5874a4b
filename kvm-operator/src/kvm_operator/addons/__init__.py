"""The add-ons kvm-operator keeps in every guest, one pure renderer per add-on: what the guest's API is given,
as (kind, object) pairs in the order they are applied. Every object carries ``kubeception.io/addon=<name>`` —
the mark of what the operator may change; an object of the same name without it is someone else's, and is left
alone (:mod:`kvm_operator.resources.addons`).

* ``kube-proxy`` — a DaemonSet with a ServiceAccount (kubeadm's and Kamaji's way: no per-node certificate to issue,
  its token rotates), nftables mode, the cluster's own Kubernetes version;
* ``coredns`` — the cluster DNS: a Deployment behind Service ``kube-dns`` at the Service network's 10th address
  (the kubelets' ``clusterDNS``), forwarding what is not the guest's to the node's resolvers;
* ``flannel`` — the pod network between the nodes: flanneld's VXLAN on a port of its own, pods' addresses kept
  between nodes, masquerade of what leaves the pod network;
* ``network-policies`` — NetworkPolicy enforced on every node (kube-network-policies);
* ``access`` — the groups of per-user guest credentials (``kubeception:view|edit|admin``) bound to the guest's
  ClusterRoles of that name (always on).

All reach the guest's API the way the kubelets do — by its name, through the platform's ingress — with their
ServiceAccount's token: the ``kubernetes`` Service's endpoints are the API server pods' addresses on the mother,
which a worker VM may not reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from guestkit import kubeconfig
from kvm_operator import key
from operatorkit import MANAGED_BY_LABEL
from operatorkit.kinds import CLUSTER_ROLE_BINDING, SERVICE_ACCOUNT

if TYPE_CHECKING:
    import ipaddress

    from operatorkit import Kind, Object

NAMESPACE = "kube-system"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
KUBE_PROXY, COREDNS, ACCESS = "kube-proxy", "coredns", "access"
FLANNEL, NETWORK_POLICIES = "flannel", "network-policies"
ADDONS = (FLANNEL, NETWORK_POLICIES, KUBE_PROXY, COREDNS, ACCESS)

Manifests = list[tuple["Kind", "Object"]]


@dataclass(frozen=True)
class Guest:
    """What the add-ons are rendered from: the guest's coordinates and the operator's images."""

    version: str  # the Kubernetes version the whole control plane runs
    api_host: str
    api_port: int
    api_address: ipaddress.IPv4Address | None  # where api_host answers (the ingress); None: DNS says
    pod_cidr: ipaddress.IPv4Network
    service_cidr: ipaddress.IPv4Network
    workers: int  # desired worker Nodes, all pools
    forward: bool  # the nodes have resolvers: CoreDNS forwards to them
    kube_proxy_image: str  # without the tag: ``:v<version>`` is added
    coredns_image: str
    flannel_image: str = "ghcr.io/kubeception/flannel-guest:0.2.0"
    network_policies_image: str = "ghcr.io/kubeception/kube-network-policies:0.2.0"
    pull_policy: str = "IfNotPresent"
    cluster_domain: str = key.CLUSTER_DOMAIN


def labels(addon: str) -> dict[str, str]:
    return {key.ADDON_LABEL: addon, MANAGED_BY_LABEL: key.MANAGER}


def metadata(name: str, addon: str, namespace: str | None = NAMESPACE) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "labels": labels(addon)}
    if namespace:
        found["namespace"] = namespace
    return found


def token_kubeconfig(guest: Guest, user: str) -> str:
    """A kubeconfig reaching the guest's API by its name with the pod's ServiceAccount token (re-read as the
    kubelet rotates it) and the cluster's CA (the token volume's ``ca.crt``)."""
    return kubeconfig(
        "guest",
        user,
        {"server": f"https://{guest.api_host}:{guest.api_port}", "certificate-authority": f"{SA_DIR}/ca.crt"},
        {"tokenFile": f"{SA_DIR}/token"},
        sort_keys=False,
    )


def account_bound_to(addon: str, binding: str, role: str) -> Manifests:
    """The add-on's ServiceAccount (named after it, in kube-system) and a ClusterRoleBinding ``binding`` giving it
    ClusterRole ``role``."""

    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata(addon, addon)}
    bound = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": metadata(binding, addon, namespace=None),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": addon, "namespace": NAMESPACE}],
    }
    return [(SERVICE_ACCOUNT, account), (CLUSTER_ROLE_BINDING, bound)]


def node_daemonset(
    addon: str, container: dict[str, Any], volumes: list[dict[str, Any]], *, cluster_dns: bool = False
) -> Object:
    """An agent on every worker (kube-proxy, flanneld, kube-network-policies): one pod per node on the node's
    network (the rules, links and queues it writes are the node's), any taint tolerated, critical to the node, its
    ServiceAccount named after the add-on, rolled one node at a time. The node's resolver unless ``cluster_dns``:
    the pod network's agents must not wait for the CoreDNS that waits for them."""
    select = {"k8s-app": addon}
    dns = {"dnsPolicy": "ClusterFirstWithHostNet"} if cluster_dns else {}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": metadata(addon, addon),
        "spec": {
            "selector": {"matchLabels": select},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {**select, **labels(addon)}},
                "spec": {
                    "serviceAccountName": addon,
                    "priorityClassName": "system-node-critical",
                    "hostNetwork": True,
                    **dns,
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def node_probes(path: str, port: int, *, liveness: bool = True) -> dict[str, Any]:
    """A node agent's startup and (``liveness``) liveness probes on its health port on the node's loopback. Under
    TCG, with the node busy starting its pods, an agent takes a minute or more to serve its health (flanneld first
    waits for its node lister to sync), and a one-second answer is not a given: five minutes to start, then five
    seconds an answer and three misses in a row before the kubelet restarts it — a restart that is itself a minute
    without its rules' updates. The startup probe is also what makes the pod Ready (the add-on's AddonsReady)."""
    check = {"httpGet": {"path": path, "port": port, "host": "127.0.0.1"}, "timeoutSeconds": 5}
    probes = {"startupProbe": {**check, "periodSeconds": 10, "failureThreshold": 30}}
    if liveness:
        probes["livenessProbe"] = {**check, "periodSeconds": 30, "failureThreshold": 3}
    return probes


def host_aliases(guest: Guest) -> list[dict[str, Any]]:
    """The API's name for a pod off the node's network (a hostNetwork pod reads the node's ``/etc/hosts``)."""
    return [{"ip": str(guest.api_address), "hostnames": [guest.api_host]}] if guest.api_address else []


def render(guest: Guest, enabled: dict[str, bool]) -> dict[str, Manifests]:
    """Every enabled add-on's objects, by add-on."""
    from kvm_operator.addons import access, coredns, flannel, kube_proxy, network_policies  # they import this module

    renderers = {
        FLANNEL: flannel.render,
        NETWORK_POLICIES: network_policies.render,
        KUBE_PROXY: kube_proxy.render,
        COREDNS: coredns.render,
        ACCESS: access.render,
    }
    return {name: renderers[name](guest) for name in ADDONS if enabled.get(name, True)}
