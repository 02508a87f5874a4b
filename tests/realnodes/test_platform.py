"""The operators installed by their Helm charts, running in pods on a real node from the project's image, under
the charts' RBAC and admission policies: cert-operator logs in to OpenBao with its pod's ServiceAccount token,
flannel-operator brings a guest network up on the node (flanneld's lease in etcd, VXLAN device and bridge in the
node's network namespace) and, on deletion, cleans the host with a Job until nothing is left; a network flanneld
cannot run there (no such host interface) is never Ready, and says so with flanneld's own last words."""

from __future__ import annotations

import functools
import json
import re
import uuid
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from flannel_operator.spec import FLANNEL_CONFIG
from guestkit import CA_CONFIG, CERT_CONFIG
from kubeception_testenv import wait_for
from kubeception_testenv.images import version
from kubeception_testenv.network import run
from kubeception_testenv.platform import NAMESPACE, VAULT_AUTH_MOUNT
from operatorkit import is_true
from operatorkit.kinds import LEASE, POD
from operatorkit.kinds import NAMESPACE as NAMESPACE_KIND
from operatorkit.platform import confinement_table
from operatorkit.testing import condition_of
from tests.cert.helpers import ca_config, cert_config, ready, secret_cert
from tests.flannel.conftest import flannel_config, status


def operator_pods(kube: Any, name: str) -> list[dict[str, Any]]:
    """The operator's own pods (not ingress-operator's HAProxy DaemonSet pods)."""
    selector = f"app.kubernetes.io/name={name},app.kubernetes.io/component!=haproxy"
    pods = kube.list(POD, NAMESPACE, label_selector=selector)["items"]
    return [p for p in pods if "deletionTimestamp" not in p["metadata"]]


def all_ready(kube: Any, name: str) -> bool:
    return all(is_true(pod["status"], "Ready") for pod in operator_pods(kube, name))


def leader(kube: Any, name: str) -> str:
    return str(kube.get(LEASE, name, NAMESPACE)["spec"].get("holderIdentity") or "")


def test_each_operator_runs_from_its_chart_and_one_replica_leads(platform, real_kube):
    for name in platform.operators:
        # Ready (/readyz: caches synced, the operator's checks passed) — waited for, because the node's kubelet
        # may have been restarted by another test, and a restarted kubelet probes every pod afresh.
        wait_for(functools.partial(all_ready, real_kube, name), timeout=60, message=f"{name}'s pods Ready")
        pods = operator_pods(real_kube, name)
        assert len(pods) == 2
        for pod in pods:
            assert pod["spec"]["nodeName"] == "real-node-0"
            assert pod["spec"]["containers"][0]["image"] == f"ghcr.io/kubeception/operators:{version()}"
        holder = leader(real_kube, name)
        assert holder.split("_")[0] in {pod["metadata"]["name"] for pod in pods}  # hostname_pid_nonce


def test_a_deleted_leader_hands_over_to_its_standby(platform, real_kube):
    name = "flannel-operator"
    wait_for(lambda: leader(real_kube, name), timeout=30, message="a leader")
    first = leader(real_kube, name).split("_")[0]
    real_kube.delete(POD, first, NAMESPACE)
    # The leader releases the Lease as it stops; the standby (or the replacement pod) takes over.
    wait_for(
        lambda: leader(real_kube, name) and leader(real_kube, name).split("_")[0] != first,
        timeout=30,
        message="a new leader",
    )
    platform.wait_available(name, timeout=120)


def test_cert_operator_issues_after_logging_in_with_its_pods_token(platform, real_kube, real_namespace):
    cluster = f"c{uuid.uuid4().hex[:6]}"
    real_kube.create(CA_CONFIG, ca_config("ca", real_namespace, cluster))
    real_kube.create(CERT_CONFIG, cert_config("api", real_namespace, cluster))
    for kind, name in ((CA_CONFIG, "ca"), (CERT_CONFIG, "api")):
        wait_for(functools.partial(ready, real_kube, kind, name, real_namespace), timeout=90, message=f"{name} Ready")

    leaf, ca, _ = secret_cert(real_kube, "api", real_namespace)
    leaf.verify_directly_issued_by(ca)
    bao = platform.vault()
    served = bao.secrets.pki.read_ca_certificate(mount_point=f"pki-{cluster}")
    assert served.strip() == ca.public_bytes(Encoding.PEM).decode().strip()
    logins = [
        bao.auth.token.lookup_accessor(accessor)["data"]
        for accessor in bao.list("auth/token/accessors")["data"]["keys"]
    ]
    assert any(
        login["path"] == f"auth/{VAULT_AUTH_MOUNT}/login"
        and login["meta"]["service_account_name"] == "cert-operator"
        and login["meta"]["service_account_namespace"] == NAMESPACE
        and login["policies"] == ["cert-operator", "default"]
        for login in logins
    )

    real_kube.delete(CERT_CONFIG, "api", real_namespace)
    real_kube.delete(CA_CONFIG, "ca", real_namespace)
    wait_for(
        lambda: f"pki-{cluster}/" not in bao.sys.list_mounted_secrets_engines()["data"],
        timeout=60,
        message="the CA's mount to be removed",
    )


def node_links(netns: str) -> str:
    return run("ip", "-d", "-o", "link", "show", netns=netns).stdout


def test_a_guest_network_comes_up_on_the_real_node_and_goes_without_a_trace(
    platform, side_servers, real_plane, real_kube
):
    cluster, broken = f"n{uuid.uuid4().hex[:6]}", f"b{uuid.uuid4().hex[:6]}"
    real_node = real_plane.real_node("real-node-0")
    node = real_node.address
    real_kube.create(FLANNEL_CONFIG, flannel_config(cluster))
    # Beside it, a network flanneld cannot run on this host (no such interface): never Ready, and says why in the
    # kubelet's words and flanneld's own (issue 29: a crash-looping flanneld's network said Ready).
    real_kube.create(FLANNEL_CONFIG, flannel_config(broken, hostInterface="nosuch0"))
    wait_for(
        lambda: is_true(status(real_kube, cluster), "HostsReady"), timeout=120, message="flanneld Ready on the node"
    )
    st = status(real_kube, cluster)
    assert (st["hostsReady"], st["hostsDesired"]) == (1, 1)
    bridge, vni = st["bridge"], st["vni"]

    # flanneld leased the node a subnet of the cluster's network, announcing the node's own address ...
    network_etcd = side_servers[1]
    etcd = network_etcd.client()
    prefix = st["etcdKey"].rsplit("/", 1)[0]
    leases = {key["key"].decode(): json.loads(value) for value, key in etcd.get_prefix(f"{prefix}/subnets/")}
    assert len(leases) == 1
    ((lease_key, lease),) = leases.items()
    assert lease["PublicIP"] == str(node.ip)
    assert lease["BackendType"] == "vxlan"
    subnet = lease_key.rsplit("/", 1)[1].replace("-", "/")
    # ... made the VXLAN device in the node's network namespace, and the bridge container put the bridge there.
    wait_for(lambda: f" {bridge}:" in node_links(node.netns), timeout=30, message=f"bridge {bridge} on the node")
    links = node_links(node.netns)
    assert f"flannel.{vni}:" in links
    assert f"vxlan id {vni} " in links
    addresses = run("ip", "-4", "-o", "addr", "show", "dev", bridge, netns=node.netns).stdout
    assert subnet.rsplit(".", 1)[0] in addresses  # the bridge carries the node's leased /24
    env_file = real_node.path(f"/run/flannel/{bridge}.env")  # the node's own /run
    assert f"FLANNEL_SUBNET={subnet.rsplit('.', 1)[0]}." in env_file.read_text()
    table = confinement_table(bridge)  # what its VMs may reach, loaded before the bridge was made
    confined = run("nft", "list", "table", "inet", table, netns=node.netns).stdout
    assert f'iifname "{bridge}" ip saddr != {subnet} counter' in confined, confined  # the node's lease

    def refused() -> str | None:
        ready = condition_of(real_kube, FLANNEL_CONFIG, broken) or {}
        message = str(ready.get("message") or "")
        return message if ready.get("reason") == "HostsNotReady" and "Failed to find interface" in message else None

    message = wait_for(refused, timeout=90, message="the broken network not Ready, with flanneld's reason")
    assert isinstance(message, str)
    assert message.startswith("0/1 hosts run it; host real-node-0: pod flannel-"), message
    assert re.search(
        r" flanneld (CrashLoopBackOff \(last exit 1|exited 1): E\d{4} [^;]* Failed to find interface", message
    ), message

    for name in (cluster, broken):
        real_kube.delete(FLANNEL_CONFIG, name)
    wait_for(
        lambda: all(real_kube.get_or_none(FLANNEL_CONFIG, name) is None for name in (cluster, broken)),
        timeout=120,
        message="both deleted",
    )
    links = node_links(node.netns)
    assert f" {bridge}:" not in links
    assert f"flannel.{vni}:" not in links
    assert not list(real_node.path("/run/flannel").glob(f"{bridge}.*"))
    assert run("nft", "list", "table", "inet", table, netns=node.netns, check=False).returncode != 0, "table removed"
    assert not list(etcd.get_prefix(prefix + "/"))
    wait_for(
        lambda: real_kube.get_or_none(NAMESPACE_KIND, f"flannel-{cluster}") is None,
        timeout=60,
        message="the cluster's namespace to go",
    )
