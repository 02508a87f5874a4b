"""One owner per cluster, derived names that never collide, never touching what another owns — flannel-operator
against the real control plane, a real etcd and kwok nodes."""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

import pytest

from flannel_operator import key
from flannel_operator.spec import FLANNEL_CONFIG
from kubeception_testenv import wait_for
from operatorkit import ADOPT_ANNOTATION, ApiError, is_true
from operatorkit.kinds import DAEMON_SET, NAMESPACE, POD
from operatorkit.testing import condition_of, reason_of
from tests.flannel.conftest import etcd_get, flannel_config, labelled_pod, status, unique

if TYPE_CHECKING:
    from kubeception_testenv import EtcdServer
    from operatorkit import KubeClient


def allocated(kube: KubeClient, name: str) -> bool:
    return is_true(status(kube, name), "Allocated")


def test_one_flannelconfig_per_cluster_is_enforced_by_the_api_server(kube, flannel_crd):
    with pytest.raises(ApiError) as refused:
        kube.create(FLANNEL_CONFIG, {**flannel_config("net-a"), "spec": {"clusterID": "cluster-b"}})
    assert refused.value.status == 422
    assert "spec.clusterID" in refused.value.message
    assert "must equal metadata.name" in refused.value.message


def test_a_clashing_bridge_is_refused_and_deleting_the_loser_leaves_the_winner(
    kube, etcd_server: EtcdServer, start_flannel_operator, namespace
):
    """The loser of a clash, and a FlannelConfig asking for a range outside the platform's flannel pool, hold no
    network: their deletion waits for nothing — not for pods a tenant labelled with their cluster ids — and goes
    within seconds."""
    start_flannel_operator()
    winner, loser, reserved = unique("win"), unique("lose"), unique("reserved")
    kube.create(FLANNEL_CONFIG, flannel_config(winner, bridgeName="br-shared"))
    wait_for(lambda: is_true(status(kube, winner), "HostsReady"), timeout=60, message="winner ready")
    before = status(kube, winner)
    config = etcd_get(etcd_server, before["etcdKey"])

    kube.create(FLANNEL_CONFIG, flannel_config(loser, bridgeName="br-shared"))
    kube.create(FLANNEL_CONFIG, flannel_config(reserved, network="10.96.0.0/18"))
    for name in (loser, reserved):
        kube.create(POD, labelled_pod(f"claims-{name}", namespace, name))
    wait_for(
        lambda: reason_of(kube, FLANNEL_CONFIG, loser, type_="Allocated") == "Conflict",
        timeout=30,
        message="loser refused",
    )
    wait_for(
        lambda: reason_of(kube, FLANNEL_CONFIG, reserved, type_="Allocated") == "OutsidePlan",
        timeout=30,
        message="impossible spec",
    )
    message = (condition_of(kube, FLANNEL_CONFIG, loser, type_="Allocated") or {})["message"]
    assert f"bridge br-shared is used by cluster {winner}" in message
    assert kube.get_or_none(NAMESPACE, f"flannel-{loser}") is None, "the loser builds nothing"

    for name in (loser, reserved):
        kube.delete(FLANNEL_CONFIG, name)
    wait_for(
        lambda: kube.get_or_none(FLANNEL_CONFIG, loser) is None and kube.get_or_none(FLANNEL_CONFIG, reserved) is None,
        timeout=10,
        message="the loser and the impossible spec deleted within seconds",
    )
    assert etcd_get(etcd_server, before["etcdKey"]) == config, "the winner's etcd config is untouched"
    assert kube.get(DAEMON_SET, "flannel", f"flannel-{winner}")
    assert kube.get(NAMESPACE, f"flannel-{winner}")["status"]["phase"] == "Active"
    assert is_true(status(kube, winner), "Ready")
    kube.delete(FLANNEL_CONFIG, winner)


def test_truncated_default_bridges_do_not_collide(kube, start_flannel_operator):
    start_flannel_operator(node_selector="kubeception.io/no-such-host=true")
    first, second = "production-eu-west-1", "production-eu-west-2"
    for name in (first, second):
        kube.create(FLANNEL_CONFIG, flannel_config(name))
    for name in (first, second):
        wait_for(functools.partial(allocated, kube, name), timeout=30, message=f"{name} allocated")
    assert status(kube, first)["bridge"] != status(kube, second)["bridge"]
    for name in (first, second):
        kube.delete(FLANNEL_CONFIG, name)


def test_health_ports_differ_for_vnis_that_map_to_one_port(kube, start_flannel_operator):
    start_flannel_operator(node_selector="kubeception.io/no-such-host=true")
    first, second = unique("hp"), unique("hp")
    kube.create(FLANNEL_CONFIG, flannel_config(first, vni=1007))
    wait_for(lambda: status(kube, first).get("healthPort"), timeout=30, message="first port")
    kube.create(FLANNEL_CONFIG, flannel_config(second, vni=41007))
    wait_for(lambda: status(kube, second).get("healthPort"), timeout=30, message="second port")
    ports = {status(kube, name)["healthPort"] for name in (first, second)}
    assert len(ports) == 2
    for name in (first, second):
        probe = kube.get(DAEMON_SET, "flannel", f"flannel-{name}")["spec"]["template"]["spec"]["containers"][0]
        assert probe["readinessProbe"]["httpGet"]["port"] == status(kube, name)["healthPort"]
        kube.delete(FLANNEL_CONFIG, name)


def foreign_claim(name: str) -> str:
    return json.dumps({"kind": "FlannelConfig", "namespace": None, "name": name, "uid": "0000-not-yours"})


def test_an_etcd_network_claimed_by_another_is_never_touched(kube, etcd_server: EtcdServer, start_flannel_operator):
    start_flannel_operator(node_selector="kubeception.io/no-such-host=true")
    cluster = unique("claimed")
    prefix = f"/coreos.com/network/{key.default_bridge(cluster)}"
    etcd = etcd_server.client()
    theirs = {f"{prefix}/owner": foreign_claim("ghost"), f"{prefix}/config": '{"Network":"10.99.0.0/16"}'}
    for path, value in theirs.items():
        etcd.put(path, value)

    def keys() -> dict[str, Any]:
        return {meta["key"].decode(): value.decode() for value, meta in etcd.get_prefix(f"{prefix}/")}

    kube.create(FLANNEL_CONFIG, flannel_config(cluster))
    wait_for(lambda: reason_of(kube, FLANNEL_CONFIG, cluster) == "NotOwned", timeout=30, message="refusal")
    message = (condition_of(kube, FLANNEL_CONFIG, cluster) or {})["message"]
    assert "belongs to FlannelConfig ghost" in message
    assert f"{ADOPT_ANNOTATION}=orphaned" in message, "ghost no longer exists: says how to take over"
    assert keys() == theirs

    kube.delete(FLANNEL_CONFIG, cluster)
    wait_for(lambda: kube.get_or_none(FLANNEL_CONFIG, cluster) is None, timeout=60, message="deleted")
    assert keys() == theirs, "deleting the FlannelConfig deletes nothing of theirs"
    etcd.delete_prefix(f"{prefix}/")


def test_an_orphaned_network_is_taken_over_only_on_request(kube, etcd_server: EtcdServer, start_flannel_operator):
    start_flannel_operator(node_selector="kubeception.io/no-such-host=true")
    cluster = unique("orphan")
    prefix = f"/coreos.com/network/{key.default_bridge(cluster)}"
    etcd = etcd_server.client()
    etcd.put(f"{prefix}/owner", foreign_claim(cluster))  # a previous FlannelConfig of this name, force-deleted
    kube.create(FLANNEL_CONFIG, flannel_config(cluster))
    wait_for(lambda: reason_of(kube, FLANNEL_CONFIG, cluster) == "NotOwned", timeout=30, message="refusal")
    kube.patch(FLANNEL_CONFIG, cluster, {"metadata": {"annotations": {ADOPT_ANNOTATION: "orphaned"}}})
    uid = kube.get(FLANNEL_CONFIG, cluster)["metadata"]["uid"]
    wait_for(lambda: json.loads(etcd.get(f"{prefix}/owner")[0])["uid"] == uid, timeout=30, message="taken over")
    # Configured, and not Ready all the same: no host is selected to run it.
    wait_for(
        lambda: reason_of(kube, FLANNEL_CONFIG, cluster) == "NoHosts", timeout=30, message="configured, on no host"
    )
    kube.delete(FLANNEL_CONFIG, cluster)
    wait_for(lambda: kube.get_or_none(FLANNEL_CONFIG, cluster) is None, timeout=60, message="deleted")
    assert etcd.get_prefix(f"{prefix}/") == [], "its own now: removed with it"


def test_a_namespace_it_does_not_own_is_left_alone(kube, start_flannel_operator):
    """Refused for a namespace someone else holds: deleting the FlannelConfig waits for nothing in it (not for pods
    that look like flannel's) and touches nothing."""
    start_flannel_operator(node_selector="kubeception.io/no-such-host=true")
    cluster = unique("squat")
    kube.create(NAMESPACE, {"metadata": {"name": f"flannel-{cluster}", "labels": {"team": "theirs"}}})
    try:
        lookalike = labelled_pod("flannel-lookalike", f"flannel-{cluster}", cluster)
        lookalike["metadata"]["labels"][key.APP_LABEL] = "flannel"
        kube.create(POD, lookalike)
        kube.create(FLANNEL_CONFIG, flannel_config(cluster))
        wait_for(lambda: reason_of(kube, FLANNEL_CONFIG, cluster) == "NotOwned", timeout=30, message="refusal")
        message = (condition_of(kube, FLANNEL_CONFIG, cluster) or {})["message"]
        assert f"Namespace flannel-{cluster} already exists and is not managed by FlannelConfig {cluster}" in message
        assert f"kubectl annotate namespaces flannel-{cluster} {ADOPT_ANNOTATION}=FlannelConfig/{cluster}" in message
        kube.delete(FLANNEL_CONFIG, cluster)
        wait_for(lambda: kube.get_or_none(FLANNEL_CONFIG, cluster) is None, timeout=10, message="deleted in seconds")
        namespace = kube.get(NAMESPACE, f"flannel-{cluster}")
        assert namespace["metadata"]["labels"]["team"] == "theirs"
        assert "deletionTimestamp" not in namespace["metadata"]
        assert kube.get(POD, "flannel-lookalike", f"flannel-{cluster}")
    finally:
        kube.delete(NAMESPACE, f"flannel-{cluster}")


def test_allocated_values_cannot_change(kube, start_flannel_operator):
    start_flannel_operator(node_selector="kubeception.io/no-such-host=true")
    cluster = unique("fixed")
    kube.create(FLANNEL_CONFIG, flannel_config(cluster, vni=4321))
    wait_for(lambda: is_true(status(kube, cluster), "Allocated"), timeout=30, message="allocated")
    for change, field in (({"vni": 4322}, "vni"), ({"bridgeName": "br-other"}, "bridgeName")):
        with pytest.raises(ApiError) as refused:
            kube.patch(FLANNEL_CONFIG, cluster, {"spec": change})
        assert refused.value.status == 422
        assert f"{field} cannot change" in refused.value.message
    kube.delete(FLANNEL_CONFIG, cluster)
