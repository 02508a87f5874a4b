"""flannel-operator against the real control plane (kwok nodes) and a real etcd (TLS, client certificates)."""

from __future__ import annotations

import concurrent.futures
import functools
import ipaddress
from typing import Any

import pydantic
import pytest

from flannel_operator.etcd import EtcdUnavailable, NetworkStore
from flannel_operator.settings import EtcdSettings
from flannel_operator.spec import FLANNEL_CONFIG
from kubeception_testenv import ControlPlane, EtcdServer, wait_for
from kubeception_testenv._pki import LocalPKI
from operatorkit import CLUSTER_LABEL, KubeClient, get_condition, is_true
from operatorkit.kinds import CLUSTER_ROLE_BINDING, DAEMON_SET, JOB, NAMESPACE, POD, SECRET
from operatorkit.testing import condition_of, reason_of
from tests.conftest import throwaway_namespace
from tests.flannel.conftest import etcd_get, flannel_config, labelled_pod, settings_for, status, unique


def test_network_comes_up_on_every_host(control_plane: ControlPlane, kube, etcd_server, start_flannel_operator):
    start_flannel_operator()
    cluster = unique("alpha")
    kube.create(FLANNEL_CONFIG, flannel_config(cluster, dns={"servers": ["10.0.0.10"]}))
    wait_for(
        lambda: is_true(status(kube, cluster), "Ready") and is_true(status(kube, cluster), "HostsReady"),
        timeout=60,
        message="network ready on every host",
    )
    st = status(kube, cluster)
    assert (st["hostsReady"], st["hostsDesired"]) == (3, 3)
    assert st["bridge"] == f"br-{cluster}"[:15]
    network = ipaddress.IPv4Network(st["network"])
    assert network.prefixlen == 18
    assert network.subnet_of(ipaddress.IPv4Network("10.64.0.0/10"))
    assert etcd_get(etcd_server, st["etcdKey"]) == {
        "Network": st["network"],
        "SubnetLen": 24,
        "Backend": {"Type": "vxlan", "VNI": st["vni"]},
    }
    daemonset = kube.get(DAEMON_SET, "flannel", f"flannel-{cluster}")
    pod_spec = daemonset["spec"]["template"]["spec"]
    assert pod_spec["hostNetwork"] is True
    assert pod_spec["nodeSelector"] == {"type": "kwok"}
    assert f"--etcd-prefix=/coreos.com/network/{st['bridge']}" in pod_spec["containers"][0]["args"]
    table = control_plane.kubectl("get", "flannelconfig", cluster).stdout.splitlines()
    assert table[0].split() == ["NAME", "CLUSTER", "NETWORK", "VNI", "BRIDGE", "HOSTS", "READY", "AGE"]
    assert table[1].split()[:7] == [cluster, cluster, st["network"], str(st["vni"]), st["bridge"], "3", "True"]


CRASH_LOOP = "kubeception.io/kwok-crash-loop"
"""On a pod, the container kwok plays as failing again and again (kubeception_testenv's kwok-stages.yaml)."""


def test_the_network_is_ready_only_while_every_host_runs_it(kube, start_flannel_operator):
    """Issue 29, finding 5: flanneld crash-looped on the only host and the FlannelConfig stayed Ready ("0/1 hosts
    run it"), and so did the KVMConfig's NetworkReady. Ready now means every selected host's pod is Ready; when not,
    the condition names each host and what its pod says."""
    from kvm_operator.resources.status import child_problem

    start_flannel_operator()
    cluster = unique("delta")
    kube.create(FLANNEL_CONFIG, flannel_config(cluster))
    wait_for(lambda: is_true(status(kube, cluster), "Ready"), timeout=60, message="the network on every host")
    namespace = f"flannel-{cluster}"
    pods = kube.list(POD, namespace, label_selector="app.kubernetes.io/name=flannel")["items"]
    assert len(pods) == 3
    said = "failed to create VXLAN device flannel.10000000: numerical result out of range"
    for pod in pods:  # flanneld fails on every host, as a kubelet reports it (kwok plays the kubelet)
        labels, annotations = {CRASH_LOOP: "flanneld"}, {f"{CRASH_LOOP}-message": f"I1206 starting\nE1206 {said}\n"}
        kube.patch(
            POD, pod["metadata"]["name"], {"metadata": {"labels": labels, "annotations": annotations}}, namespace
        )

    def not_ready() -> dict[str, Any] | None:
        current = status(kube, cluster)  # the condition and the count from one read: two reads may see two writes
        ready = get_condition(current, "Ready")
        return ready if ready and ready["status"] == "False" and current["hostsReady"] == 0 else None

    ready = wait_for(not_ready, timeout=60, message="not Ready while no host runs the network")
    assert isinstance(ready, dict)
    assert ready["reason"] == "HostsNotReady"
    assert ready["message"].startswith("0/3 hosts run it; host "), ready["message"]
    for pod in pods:
        where = f"host {pod['spec']['nodeName']}: pod {pod['metadata']['name']} "
        assert f"{where}flanneld CrashLoopBackOff (last exit 1: E1206 {said})" in ready["message"], ready["message"]
    assert not is_true(status(kube, cluster), "HostsReady")
    # The KVMConfig's NetworkReady folds what the FlannelConfig says, hosts and reasons included.
    problem = child_problem(FLANNEL_CONFIG, cluster, kube.get(FLANNEL_CONFIG, cluster))
    assert problem is not None
    assert problem.startswith(f"FlannelConfig {cluster}: HostsNotReady: 0/3 hosts run it; host ")

    kube.delete(POD, pods[0]["metadata"]["name"], namespace)  # one host's pod replaced: 1 of 3 is not Ready
    wait_for(lambda: status(kube, cluster)["hostsReady"] == 1, timeout=60, message="one host runs it again")
    assert not is_true(status(kube, cluster), "Ready")
    for pod in pods[1:]:
        kube.delete(POD, pod["metadata"]["name"], namespace)
    wait_for(lambda: is_true(status(kube, cluster), "Ready"), timeout=60, message="Ready again on every host")
    assert (condition_of(kube, FLANNEL_CONFIG, cluster) or {})["message"].endswith("3/3 hosts run it")
    kube.delete(FLANNEL_CONFIG, cluster)
    wait_for(lambda: kube.get_or_none(FLANNEL_CONFIG, cluster) is None, timeout=120, message="deleted")


def test_spec_change_rolls_the_daemonset_and_keeps_leases(kube, etcd_server, start_flannel_operator):
    start_flannel_operator()
    cluster = unique("beta")
    kube.create(FLANNEL_CONFIG, flannel_config(cluster))
    wait_for(lambda: is_true(status(kube, cluster), "HostsReady"), timeout=60, message="ready")
    st = status(kube, cluster)
    prefix = st["etcdKey"].rsplit("/", 1)[0]
    lease_key = f"{prefix}/subnets/{st['network'].split('/')[0]}-24"
    etcd = etcd_server.client()
    etcd.put(lease_key, '{"PublicIP":"192.0.2.1","BackendType":"vxlan"}')
    generation = kube.get(DAEMON_SET, "flannel", f"flannel-{cluster}")["metadata"]["generation"]

    kube.patch(FLANNEL_CONFIG, cluster, {"spec": {"subnetLen": 25, "ntp": {"servers": ["pool.ntp.org"]}}})

    def rolled() -> bool:
        daemonset = kube.get(DAEMON_SET, "flannel", f"flannel-{cluster}")
        current = status(kube, cluster)
        return (
            daemonset["metadata"]["generation"] > generation
            and is_true(current, "HostsReady")
            and current.get("observedGeneration") == 2
        )

    wait_for(rolled, timeout=60, message="the DaemonSet to roll and the hosts to be ready again")
    env = kube.get(DAEMON_SET, "flannel", f"flannel-{cluster}")["spec"]["template"]["spec"]["containers"][1]["env"]
    assert {"name": "NTP_SERVERS", "value": "pool.ntp.org"} in env
    assert etcd_get(etcd_server, st["etcdKey"])["SubnetLen"] == 25
    assert etcd.get(lease_key) == [b'{"PublicIP":"192.0.2.1","BackendType":"vxlan"}'], "leases survive"


def test_delete_waits_for_vms_cleans_hosts_and_leaves_nothing(kube, etcd_server, start_flannel_operator, namespace):
    """Deletion waits for the VM pods of the cluster's own namespaces (labelled with the cluster by the platform),
    never for a tenant's pod that merely carries the cluster's label in a namespace of its own."""
    start_flannel_operator()
    cluster = unique("gamma")
    kube.create(FLANNEL_CONFIG, flannel_config(cluster))
    wait_for(lambda: is_true(status(kube, cluster), "HostsReady"), timeout=60, message="ready")
    st = status(kube, cluster)
    kube.patch(NAMESPACE, namespace, {"metadata": {"labels": {CLUSTER_LABEL: cluster}}})  # the VMs' namespace
    kube.create(POD, labelled_pod("vm-master-0", namespace, cluster))
    with throwaway_namespace(kube) as tenant:
        kube.create(POD, labelled_pod("squatter", tenant, cluster))

        kube.delete(FLANNEL_CONFIG, cluster)
        wait_for(
            lambda: reason_of(kube, FLANNEL_CONFIG, cluster) == "WaitingForVMs",
            timeout=30,
            message="deletion waiting for the VM pods",
        )
        message = (condition_of(kube, FLANNEL_CONFIG, cluster) or {})["message"]
        assert f"{namespace}/vm-master-0" in message
        assert "squatter" not in message
        assert etcd_get(etcd_server, st["etcdKey"]) is not None, "the network outlives its VMs"
        assert kube.list(JOB, f"flannel-{cluster}")["items"] == []

        kube.delete(POD, "vm-master-0", namespace)
        wait_for(lambda: kube.get_or_none(FLANNEL_CONFIG, cluster) is None, timeout=120, message="deletion to finish")
        assert kube.get(POD, "squatter", tenant), "the tenant's pod is not the network's to wait for, nor to touch"
    etcd = etcd_server.client()
    assert etcd.get_prefix(st["etcdKey"].rsplit("/", 1)[0] + "/") == [], "no etcd key left"
    assert kube.get_or_none(CLUSTER_ROLE_BINDING, f"flannel-{cluster}") is None
    wait_for(
        lambda: kube.get_or_none(NAMESPACE, f"flannel-{cluster}") is None,
        timeout=90,
        message="the namespace to be gone",
    )


def test_hundred_concurrent_allocations_never_overlap_and_survive_restart(kube, start_flannel_operator):
    operator, _ = start_flannel_operator(node_selector="kubeception.io/no-such-host=true")
    clusters = [unique(f"p{i:03d}") for i in range(100)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda c: kube.create(FLANNEL_CONFIG, flannel_config(c)), clusters))

    def allocations() -> dict[str, tuple[str, int]]:
        found = {}
        for obj in kube.list(FLANNEL_CONFIG)["items"]:
            st = obj.get("status") or {}
            if obj["metadata"]["name"] in clusters and "network" in st:
                found[obj["metadata"]["name"]] = (st["network"], st["vni"])
        return found

    wait_for(lambda: len(allocations()) == 100, timeout=120, message="100 allocations")
    before = allocations()
    networks = [ipaddress.IPv4Network(n) for n, _ in before.values()]
    assert len({vni for _, vni in before.values()}) == 100
    assert not any(a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1 :])

    operator.stop()
    start_flannel_operator(node_selector="kubeception.io/no-such-host=true")
    late = unique("late")
    kube.create(FLANNEL_CONFIG, flannel_config(late))
    wait_for(lambda: "network" in status(kube, late), timeout=60, message="an allocation after the restart")
    assert allocations() == before, "allocations unchanged by the restart"
    late_network = ipaddress.IPv4Network(status(kube, late)["network"])
    assert not any(late_network.overlaps(n) for n in networks)
    assert status(kube, late)["vni"] not in {vni for _, vni in before.values()}

    for name in [*clusters, late]:
        kube.delete(FLANNEL_CONFIG, name)
    wait_for(
        lambda: not [o for o in kube.list(FLANNEL_CONFIG)["items"] if o["metadata"]["name"] in clusters],
        timeout=180,
        message="all deleted",
    )


def refused(kube: KubeClient, name: str) -> dict[str, Any] | None:
    condition = condition_of(kube, FLANNEL_CONFIG, name, type_="Allocated")
    return condition if condition is not None and condition["status"] == "False" else None


def test_clashing_requests_name_the_other_cluster(kube, start_flannel_operator):
    """Clashes name the cluster holding the network or VNI; a network in the platform's VPC pool (an AWS guest's
    VPC one day) or on the mother's Service network is refused, naming the range (issue 29, finding 4)."""
    start_flannel_operator(node_selector="kubeception.io/no-such-host=true")
    first, second, third = unique("c1"), unique("c2"), unique("c3")
    kube.create(FLANNEL_CONFIG, flannel_config(first, network="10.120.0.0/16", vni=777))
    wait_for(lambda: is_true(status(kube, first), "Allocated"), timeout=30, message="first allocated")
    kube.create(FLANNEL_CONFIG, flannel_config(second, network="10.120.128.0/17"))
    kube.create(FLANNEL_CONFIG, flannel_config(third, vni=777))
    outside, services = unique("c4"), unique("c5")
    kube.create(FLANNEL_CONFIG, flannel_config(outside, network="10.250.0.0/16"))
    kube.create(FLANNEL_CONFIG, flannel_config(services, network="10.96.0.0/20"))
    for name, reason, expected in (
        (outside, "OutsidePlan", "10.250.0.0/16 overlaps the VPC pool 10.128.0.0/9"),
        (services, "OutsidePlan", "overlaps the mother cluster's Service network 10.96.0.0/16"),
    ):
        condition = wait_for(functools.partial(refused, kube, name), timeout=30, message=f"{name} refused")
        assert isinstance(condition, dict)
        assert (condition["reason"], expected in condition["message"]) == (reason, True), condition
    for name, expected in (
        (second, f"overlaps 10.120.0.0/16 of cluster {first}"),
        (third, f"VNI 777 is used by cluster {first}"),
    ):
        condition = wait_for(functools.partial(refused, kube, name), timeout=30, message=f"{name} refused")
        assert isinstance(condition, dict)
        assert condition["reason"] == "Conflict"
        assert expected in condition["message"]
        ready = condition_of(kube, FLANNEL_CONFIG, name)
        assert ready is not None
        assert ready["reason"] == "AllocationConflict"
    for name in (first, second, third, outside, services):
        kube.delete(FLANNEL_CONFIG, name)


def test_etcd_with_tls_client_auth(kube, start_flannel_operator, etcd_server: EtcdServer):
    """The network etcd serves TLS and wants client certificates: flanneld gets the operator's CA and client pair."""
    _, shared = start_flannel_operator()
    cluster = unique("tls")
    kube.create(FLANNEL_CONFIG, flannel_config(cluster))
    wait_for(lambda: is_true(status(kube, cluster), "HostsReady"), timeout=60, message="ready")
    st = status(kube, cluster)
    assert shared.etcd.read_config(st["bridge"]) == {
        "Network": st["network"],
        "SubnetLen": 24,
        "Backend": {"Type": "vxlan", "VNI": st["vni"]},
    }
    secret = kube.get(SECRET, "etcd-client", f"flannel-{cluster}")
    assert sorted(secret["data"]) == ["ca.crt", "tls.crt", "tls.key"]
    args = kube.get(DAEMON_SET, "flannel", f"flannel-{cluster}")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--etcd-certfile=/etc/etcd-client/tls.crt" in args
    assert "--etcd-cafile=/etc/etcd-client/ca.crt" in args
    assert args[0] == f"--etcd-endpoints={etcd_server.url}"
    kube.delete(FLANNEL_CONFIG, cluster)
    wait_for(lambda: kube.get_or_none(FLANNEL_CONFIG, cluster) is None, timeout=120, message="deleted")
    assert shared.etcd.keys(st["bridge"]) == []


def test_the_network_etcd_is_verified_and_admits_only_clients_with_a_certificate(etcd_server: EtcdServer, tmp_path):
    """The operator's etcd client trusts the CA it is given and nothing else, and etcd refuses a client without a
    certificate; an https endpoint without a CA is a settings error, not a silent fallback."""
    trusted = settings_for(etcd_server).etcd
    assert NetworkStore(trusted).read_claim("br-nobody") is None
    stranger = LocalPKI(tmp_path / "stranger").ca.cert
    with pytest.raises(EtcdUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        NetworkStore(trusted.model_copy(update={"ca_file": str(stranger)})).read_claim("br-nobody")
    with pytest.raises(EtcdUnavailable):
        NetworkStore(trusted.model_copy(update={"cert_file": None, "key_file": None})).read_claim("br-nobody")
    with pytest.raises(pydantic.ValidationError, match=r"needs --etcd\.ca-file"):
        EtcdSettings(endpoint=etcd_server.url)
