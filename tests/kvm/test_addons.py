"""The guest add-ons' renderers (pure logic): what kube-proxy and CoreDNS are made of, and what follows the
cluster. tests/kvm/test_worker_pools.py applies them to a real guest API server; tests/realnodes/test_two_guests.py runs
them on a guest's real worker VM."""

from __future__ import annotations

import dataclasses
import ipaddress
import json

import pytest
import yaml

from kvm_operator import addons, key
from kvm_operator.addons import access, coredns, flannel, kube_proxy, network_policies
from kvm_operator.resources.addons import readiness
from operatorkit.kinds import CONFIG_MAP, DAEMON_SET, DEPLOYMENT, SERVICE

GUEST = addons.Guest(
    version="1.36.3",
    api_host="api.c1.kubeception.test",
    api_port=443,
    api_address=ipaddress.IPv4Address("10.1.0.5"),
    pod_cidr=ipaddress.IPv4Network("172.30.0.0/16"),
    service_cidr=ipaddress.IPv4Network("172.31.0.0/16"),
    workers=3,
    forward=True,
    kube_proxy_image="ghcr.io/kubeception/kube-proxy",
    coredns_image="ghcr.io/kubeception/coredns:0.2.0",
)


def by_kind(manifests: addons.Manifests) -> dict[str, dict]:  # type: ignore[type-arg]
    return {obj["kind"]: obj for _, obj in manifests}


@pytest.mark.parametrize(
    ("cidr", "address"),
    [("172.31.0.0/16", "172.31.0.10"), ("10.96.0.0/12", "10.96.0.10"), ("192.168.7.0/24", "192.168.7.10")],
)
def test_cluster_dns_is_the_10th_address_of_the_service_network(cidr: str, address: str) -> None:
    assert key.cluster_dns(ipaddress.IPv4Network(cidr)) == ipaddress.IPv4Address(address)


def test_every_object_carries_the_addon_label_and_only_enabled_addons_render() -> None:
    rendered = addons.render(GUEST, {"kube-proxy": True, "coredns": True})
    assert list(rendered) == ["flannel", "network-policies", "kube-proxy", "coredns", "access"]
    for name, manifests in rendered.items():
        for kind, obj in manifests:
            assert obj["metadata"]["labels"][key.ADDON_LABEL] == name, (name, obj["metadata"])
            assert obj["kind"] == kind.kind
            assert obj["apiVersion"] == kind.api_version
            assert ("namespace" in obj["metadata"]) == kind.namespaced
    only_dns = {"flannel": False, "network-policies": False, "kube-proxy": False, "coredns": True, "access": False}
    assert list(addons.render(GUEST, only_dns)) == ["coredns"]


def test_flannel_routes_the_pod_network_on_a_port_of_its_own_and_masquerades_what_leaves_it() -> None:
    found = by_kind(flannel.render(GUEST))
    conf = json.loads(found["ConfigMap"]["data"]["net-conf.json"])
    assert conf == {"Network": "172.30.0.0/16", "EnableNFTables": True, "Backend": {"Type": "vxlan", "Port": 8475}}
    assert flannel.VXLAN_PORT not in (4789, 8472), "not the outer VXLAN's port"
    kubeconfig = yaml.safe_load(found["ConfigMap"]["data"]["kubeconfig"])
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://api.c1.kubeception.test:443", "the API by name"
    assert found["ClusterRole"]["rules"] == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]},
    ], "upstream's grants, less reading pods"
    pod = found["DaemonSet"]["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert pod["tolerations"] == [{"operator": "Exists"}]
    command = pod["containers"][0]["command"]
    assert {"--kube-subnet-mgr", "--ip-masq"} <= set(command), "the Nodes' ranges; masquerade off the pod network"
    assert pod["containers"][0]["image"] == "ghcr.io/kubeception/flannel-guest:0.2.0"


@pytest.mark.parametrize("render", [flannel.render, kube_proxy.render], ids=["flannel", "kube-proxy"])
def test_node_agents_get_minutes_to_start_under_tcg(render) -> None:
    """flanneld served its health 52 s after start on a loaded TCG VM: a 30 s liveness delay restarted it in a
    loop. A startup probe gives five minutes (and makes the pod Ready once its health answered)."""
    container = by_kind(render(GUEST))["DaemonSet"]["spec"]["template"]["spec"]["containers"][0]
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    assert startup["httpGet"]["host"] == "127.0.0.1"


def test_flanneld_is_restarted_after_three_slow_misses_kube_proxy_only_when_it_exits() -> None:
    """flanneld's health is its process answering: three misses of five seconds restart it. kube-proxy's fails
    while a rules sync is overdue — load on a TCG VM, not a hang — and a restart drops every Service on the node until
    it has synced again (a conformance run saw kube-dns refused there for minutes): no liveness probe, as kubeadm's."""
    flanneld = by_kind(flannel.render(GUEST))["DaemonSet"]["spec"]["template"]["spec"]["containers"][0]
    liveness = flanneld["livenessProbe"]
    assert liveness["timeoutSeconds"] >= 5
    assert liveness["failureThreshold"] >= 3
    assert liveness["httpGet"] == flanneld["startupProbe"]["httpGet"]
    proxy = by_kind(kube_proxy.render(GUEST))["DaemonSet"]["spec"]["template"]["spec"]["containers"][0]
    assert "livenessProbe" not in proxy


def test_network_policies_reach_the_api_by_name_and_read_only_what_they_judge() -> None:
    found = by_kind(network_policies.render(GUEST))
    assert found["ClusterRole"]["rules"] == [
        {"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": ["list", "watch"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["list", "watch"]},
    ]
    container = found["DaemonSet"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert (env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]) == ("api.c1.kubeception.test", "443"), (
        "not the kubernetes Service: its endpoints are the API server pods, which a VM may not reach"
    )
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN"]}


def test_the_groups_of_guest_credentials_get_the_guest_s_roles_of_their_name() -> None:
    """What cert-operator's issuer signs (O=kubeception:<access>) is what the guest binds; masters needs nothing."""
    rendered = access.render(GUEST)
    bindings = {obj["metadata"]["name"]: obj for kind, obj in rendered if kind.kind == "ClusterRoleBinding"}
    assert set(bindings) == {"kubeception:view", "kubeception:edit", "kubeception:admin", "kubeception:nodes"}
    nodes = next(obj for kind, obj in rendered if kind.kind == "ClusterRole")
    assert nodes["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]}]
    assert {s["name"] for s in bindings["kubeception:nodes"]["subjects"]} == {
        "kubeception:view",
        "kubeception:edit",
        "kubeception:admin",
    }, "every credential sees the nodes (none of the three roles grants them)"
    for level in ("view", "edit", "admin"):
        binding = bindings[f"kubeception:{level}"]
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": level}
        assert binding["subjects"] == [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": f"kubeception:{level}"}
        ]


def test_kube_proxy_runs_the_cluster_version_in_nftables_mode_on_every_node() -> None:
    found = by_kind(kube_proxy.render(GUEST))
    assert found["ClusterRoleBinding"]["roleRef"]["name"] == "system:node-proxier"
    assert found["ClusterRoleBinding"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "kube-proxy", "namespace": "kube-system"}
    ]
    config = yaml.safe_load(found["ConfigMap"]["data"]["config.conf"])
    assert config["mode"] == "nftables"
    assert config["clusterCIDR"] == "172.30.0.0/16"
    kubeconfig = yaml.safe_load(found["ConfigMap"]["data"]["kubeconfig.conf"])
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://api.c1.kubeception.test:443", "the API by name"
    assert kubeconfig["users"][0]["user"] == {"tokenFile": f"{addons.SA_DIR}/token"}
    pod = found["DaemonSet"]["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert pod["serviceAccountName"] == "kube-proxy"
    assert pod["tolerations"] == [{"operator": "Exists"}], "on every worker, tainted or not"
    container = pod["containers"][0]
    assert container["image"] == "ghcr.io/kubeception/kube-proxy:v1.36.3"
    assert container["securityContext"] == {"privileged": True}
    upgraded = by_kind(kube_proxy.render(dataclasses.replace(GUEST, version="1.37.0")))
    image = upgraded["DaemonSet"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "ghcr.io/kubeception/kube-proxy:v1.37.0", "kube-proxy follows the cluster's version"


@pytest.mark.parametrize(("workers", "replicas"), [(0, 0), (1, 1), (2, 2), (3, 2), (100, 2)])
def test_coredns_replicas_are_min_2_workers(workers: int, replicas: int) -> None:
    found = by_kind(coredns.render(dataclasses.replace(GUEST, workers=workers)))
    assert found["Deployment"]["spec"]["replicas"] == replicas


def test_coredns_answers_the_cluster_domain_and_forwards_the_rest_to_the_node_s_resolvers() -> None:
    found = by_kind(coredns.render(GUEST))
    service = found["Service"]
    assert service["metadata"]["name"] == "kube-dns"
    assert service["spec"]["clusterIP"] == "172.31.0.10"
    assert {(p["port"], p["protocol"]) for p in service["spec"]["ports"]} == {(53, "UDP"), (53, "TCP"), (9153, "TCP")}
    corefile = found["ConfigMap"]["data"]["Corefile"]
    plugins = ("errors", "health", "ready", "kubernetes cluster.local in-addr.arpa ip6.arpa", "cache 30", "loop",
               "reload", "loadbalance", "forward . /etc/resolv.conf", "kubeconfig /etc/coredns/kubeconfig")  # fmt: skip
    for plugin in plugins:
        assert plugin in corefile, plugin
    pod = found["Deployment"]["spec"]["template"]["spec"]
    assert pod["dnsPolicy"] == "Default", "its own resolvers are the node's: what forward sends to"
    assert pod["hostAliases"] == [{"ip": "10.1.0.5", "hostnames": ["api.c1.kubeception.test"]}]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["containers"][0]["image"] == "ghcr.io/kubeception/coredns:0.2.0"
    rules = found["ClusterRole"]["rules"]
    assert all(set(rule["verbs"]) <= {"list", "watch"} for rule in rules), "CoreDNS only reads"
    silent = by_kind(coredns.render(dataclasses.replace(GUEST, forward=False, api_address=None)))
    assert "forward" not in silent["ConfigMap"]["data"]["Corefile"], "no resolvers: nothing to forward to"
    assert silent["Deployment"]["spec"]["template"]["spec"]["hostAliases"] == []


@pytest.mark.parametrize(
    ("kind", "obj", "ready", "counted"),
    [
        (DAEMON_SET, None, False, "missing"),
        (DAEMON_SET, {"metadata": {"generation": 2}, "status": {"observedGeneration": 1}}, False, "not yet observed"),
        (
            DAEMON_SET,
            {"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "desiredNumberScheduled": 2,
                                                       "numberReady": 1, "updatedNumberScheduled": 2}},
            False,
            "1/2 ready, 2/2 up to date",
        ),
        (
            DAEMON_SET,
            {"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "desiredNumberScheduled": 2,
                                                       "numberReady": 2, "updatedNumberScheduled": 2}},
            True,
            "2/2 ready, 2/2 up to date",
        ),
        (
            DEPLOYMENT,
            {"metadata": {"generation": 3}, "spec": {"replicas": 2},
             "status": {"observedGeneration": 3, "readyReplicas": 2, "updatedReplicas": 1}},
            False,
            "2/2 ready, 1/2 up to date",
        ),
        (
            DEPLOYMENT,
            {"metadata": {"generation": 3}, "spec": {"replicas": 2},
             "status": {"observedGeneration": 3, "readyReplicas": 2, "updatedReplicas": 2}},
            True,
            "2/2 ready, 2/2 up to date",
        ),
    ],
)  # fmt: skip
def test_readiness_counts_ready_and_up_to_date_pods(kind, obj, ready, counted) -> None:
    found, message = readiness(kind, obj)
    assert found is ready
    assert message.startswith(counted), message


def test_the_kinds_are_what_the_guest_serves() -> None:
    kinds = {kind for manifests in addons.render(GUEST, {}).values() for kind, _ in manifests}
    assert {CONFIG_MAP, DAEMON_SET, DEPLOYMENT, SERVICE} <= kinds
