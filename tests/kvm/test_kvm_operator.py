"""kvm-operator on the kwok control plane with a real cert-operator and OpenBao: one KVMConfig gives its children
(CAConfig, CertConfigs issued for real, FlannelConfig, IngressConfig), a hosted control plane in namespace
<cluster>, and an admin kubeconfig; upgrades roll component by component; bad input gets conditions; deletion
leaves nothing."""

from __future__ import annotations

import base64
import functools
import uuid

import pytest
import yaml
from cryptography import x509

from guestkit import CA_CONFIG, CERT_CONFIG
from kubeception_testenv import wait_for
from kvm_operator import key
from kvm_operator.settings import KVMSettings
from kvm_operator.shared import FLANNEL_CONFIG, INGRESS_CONFIG
from kvm_operator.spec import KVM_CONFIG
from kvm_operator.versions import VERSION_ANNOTATION
from operatorkit import ApiError, get_condition, is_true
from operatorkit.kinds import (
    CONFIG_MAP,
    DEPLOYMENT,
    NAMESPACE,
    NETWORK_POLICY,
    POD_DISRUPTION_BUDGET,
    SECRET,
    SERVICE,
    STATEFUL_SET,
)
from operatorkit.testing import wait_progressing
from tests.kvm.conftest import condition, kvm_config, kvm_configs_left, status


def cluster_id() -> str:
    return f"k{uuid.uuid4().hex[:6]}"


def images(kube, cluster: str) -> dict[str, str]:
    """The Kubernetes version each control-plane workload is at: its image tag, and for etcd (whose image is
    etcd's own, the same for every Kubernetes version) the version annotation the upgrade order reads."""
    etcd = kube.get(STATEFUL_SET, key.ETCD, cluster)
    assert etcd["spec"]["template"]["spec"]["containers"][0]["image"] == KVMSettings().images.etcd
    found = {key.ETCD: f"v{etcd['metadata']['annotations'][VERSION_ANNOTATION]}"}
    for component in (key.APISERVER, key.CONTROLLER_MANAGER, key.SCHEDULER):
        workload = kube.get(DEPLOYMENT, component, cluster)
        found[component] = workload["spec"]["template"]["spec"]["containers"][0]["image"].rsplit(":", 1)[1]
    return found


def test_one_kvmconfig_gives_children_a_control_plane_and_a_kubeconfig(kube, namespace, start_kvm):
    start_kvm()
    cluster = cluster_id()
    kube.create(KVM_CONFIG, kvm_config(cluster, namespace, organization="acme", team="blue"))
    wait_for(
        lambda: is_true(status(kube, cluster, namespace), "CertificatesReady"),
        timeout=90,
        message="CA and certificates issued by cert-operator",
    )
    wait_for(
        lambda: is_true(status(kube, cluster, namespace), "ControlPlaneAvailable"),
        timeout=90,
        message="control plane available on kwok nodes",
    )
    st = status(kube, cluster, namespace)
    assert st["kubernetesVersion"] == "1.36.3"
    assert st["controlPlaneReady"] == "1/1"
    # Children the other operators reconcile; not running here, they say so — and Ready says what it waits for.
    network = kube.get(FLANNEL_CONFIG, cluster)["spec"]
    assert network["clusterID"] == cluster
    assert "network" not in network  # left to flannel-operator's allocation
    ingress = kube.get(INGRESS_CONFIG, cluster)["spec"]
    assert ingress["api"]["hostnames"] == [f"api.{cluster}.kubeception.test"]
    assert ingress["api"]["backend"] == {"service": "apiserver", "namespace": cluster, "port": 443}
    ready = condition(kube, cluster, namespace, "Ready")
    assert ready["status"] == "False"
    assert "NetworkReady" in ready["message"]
    assert "EndpointReady" in ready["message"]
    assert "FlannelConfig" in condition(kube, cluster, namespace, "NetworkReady")["message"]

    # The namespace claims the id and carries the tenant's labels.
    labels = kube.get(NAMESPACE, cluster)["metadata"]["labels"]
    assert labels["kubeception.io/organization"] == "acme"
    assert labels["kubeception.io/team"] == "blue"
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert kube.get(CA_CONFIG, key.CA, cluster)["spec"]["clusterID"] == cluster
    assert {c["metadata"]["name"] for c in kube.list(CERT_CONFIG, cluster)["items"]} == set(key.CERTIFICATES)
    assert images(kube, cluster) == dict.fromkeys(images(kube, cluster), "v1.36.3")
    assert {s["metadata"]["name"] for s in kube.list(SERVICE, cluster)["items"]} == {"etcd", "etcd-peers", "apiserver"}
    assert {p["metadata"]["name"] for p in kube.list(NETWORK_POLICY, cluster)["items"]} == set(key.COMPONENTS)
    assert {p["metadata"]["name"] for p in kube.list(POD_DISRUPTION_BUDGET, cluster)["items"]} == {"etcd", "apiserver"}
    encryption = kube.get(SECRET, key.ENCRYPTION_SECRET, cluster)
    assert "secretbox" in base64.b64decode(encryption["data"]["encryption-config.yaml"]).decode()
    assert kube.get(CONFIG_MAP, "component-kubeconfigs", cluster)["data"].keys() == {
        "controller-manager.conf",
        "scheduler.conf",
    }

    # The admin kubeconfig: the public endpoint, SNI name, the cluster's CA, the admin certificate it signed.
    secret = kube.get(SECRET, f"{cluster}-kubeconfig", namespace)
    assert secret["metadata"]["ownerReferences"][0]["name"] == cluster  # garbage-collected with the KVMConfig
    config = yaml.safe_load(base64.b64decode(secret["data"]["value"]))
    server = config["clusters"][0]["cluster"]
    assert server["server"] == f"https://api.{cluster}.kubeception.test"
    assert server["tls-server-name"] == f"api.{cluster}.kubeception.test"
    ca = x509.load_pem_x509_certificate(base64.b64decode(server["certificate-authority-data"]))
    admin = x509.load_pem_x509_certificate(base64.b64decode(config["users"][0]["user"]["client-certificate-data"]))
    admin.verify_directly_issued_by(ca)
    organization = admin.subject.get_attributes_for_oid(x509.oid.NameOID.ORGANIZATION_NAME)
    assert [a.value for a in organization] == ["system:masters"]
    assert status(kube, cluster, namespace)["kubeconfigSecret"] == f"{cluster}-kubeconfig"


def upgrading_says(kube, cluster: str, namespace: str, text: str) -> bool:
    return text in condition(kube, cluster, namespace, "Upgrading").get("message", "")


def rolled_to(kube, cluster: str, version: str) -> list[str]:
    return [c for c, v in images(kube, cluster).items() if v == f"v{version}"]


def test_upgrade_rolls_one_component_at_a_time_and_skew_is_refused(kube, namespace, start_kvm):
    start_kvm()
    cluster = cluster_id()
    kube.create(KVM_CONFIG, kvm_config(cluster, namespace))
    wait_for(lambda: is_true(status(kube, cluster, namespace), "ControlPlaneAvailable"), timeout=90, message="up")

    kube.patch(KVM_CONFIG, cluster, {"spec": {"kubernetesVersion": "1.36.4"}}, namespace)
    seen: list[tuple[str, ...]] = []

    def progress() -> bool:
        done = tuple(rolled_to(kube, cluster, "1.36.4"))
        if not seen or seen[-1] != done:
            seen.append(done)
        return status(kube, cluster, namespace).get("kubernetesVersion") == "1.36.4"

    wait_for(progress, timeout=120, message="every component at 1.36.4", interval=0.05)
    order = [key.ETCD, key.APISERVER, key.CONTROLLER_MANAGER, key.SCHEDULER]
    for done in seen:  # at any moment, what has rolled is a prefix of the order
        assert list(done) == order[: len(done)], seen
    assert condition(kube, cluster, namespace, "Upgrading")["status"] == "False"
    etcd = kube.get(STATEFUL_SET, key.ETCD, cluster)
    assert etcd["metadata"]["annotations"][VERSION_ANNOTATION] == "1.36.4"

    for refused, why in (("1.35.2", "minor downgrade"), ("1.38.0", "not supported")):
        kube.patch(KVM_CONFIG, cluster, {"spec": {"kubernetesVersion": refused}}, namespace)
        wait_for(
            functools.partial(upgrading_says, kube, cluster, namespace, why), timeout=30, message=f"{refused} refused"
        )
        assert set(images(kube, cluster).values()) == {"v1.36.4"}
        assert is_true(status(kube, cluster, namespace), "ControlPlaneAvailable")


def test_bad_input_is_refused_at_admission_or_as_a_condition(kube, namespace, start_kvm):
    start_kvm()
    for bad, message in (
        ({"clusterID": "kube-system"}, "namespace of the mother"),
        ({"clusterID": "flannel-b"}, "another cluster's"),
        ({"kubernetesVersion": "latest"}, "kubernetesVersion"),
        ({"controlPlane": {"replicas": 2}}, "replicas"),
        ({"network": {"serviceCIDR": "10.0.0.0/33"}}, "serviceCIDR"),
        ({"clusterID": "other"}, "must equal metadata.name"),
        ({"clusterID": "bad-workers"}, "workers' namespace"),
        ({"workerPools": [{"name": "a", "labels": {"node-role.kubernetes.io/x": ""}}]}, "reserved"),
        ({"workerPools": [{"name": f"p{i}", "replicas": 100} for i in range(3)]}, "at most 200 workers"),
        ({"workerPools": [{"name": "a", "memory": "2G"}]}, "memory"),
    ):
        with pytest.raises(ApiError) as error:
            kube.create(
                KVM_CONFIG, {**kvm_config("bad", namespace), "spec": {**kvm_config("bad", namespace)["spec"], **bad}}
            )
        assert message in error.value.message, error.value.message

    cluster = cluster_id()
    kube.create(KVM_CONFIG, kvm_config(cluster, namespace))
    wait_for(lambda: kube.get_or_none(NAMESPACE, cluster) is not None, timeout=30, message="namespace")
    with pytest.raises(ApiError) as error:
        kube.patch(KVM_CONFIG, cluster, {"spec": {"clusterID": cluster_id()}}, namespace)
    assert "immutable" in error.value.message

    # The same cluster id from another tenant's namespace: refused, naming the owner; the first is untouched.
    other = f"t-{uuid.uuid4().hex[:6]}"
    kube.create(NAMESPACE, {"metadata": {"name": other}})
    try:
        kube.create(KVM_CONFIG, kvm_config(cluster, other))
        wait_for(
            lambda: f"KVMConfig {namespace}/{cluster}" in condition(kube, cluster, other, "Ready").get("message", ""),
            timeout=30,
            message="the second claim refused, naming the first",
        )
        kube.delete(KVM_CONFIG, cluster, other)
        wait_for(lambda: kube.get_or_none(KVM_CONFIG, cluster, other) is None, timeout=10, message="second gone")
        assert kube.get(NAMESPACE, cluster)["metadata"].get("deletionTimestamp") is None
        assert kube.get_or_none(FLANNEL_CONFIG, cluster) is not None
    finally:
        kube.delete(NAMESPACE, other)

    # Ranges against the platform's plan (here the local mother's own networks): refused before anything is made,
    # naming the range (issue 29, finding 4).
    for network, expected in (
        ({"podCIDR": "10.64.0.0/16"}, "network.podCIDR 10.64.0.0/16 overlaps the flannel pool 10.64.0.0/10"),
        ({"serviceCIDR": "10.96.0.0/16"}, "overlaps the mother cluster's Service network 10.96.0.0/16"),
        ({"cidr": "10.250.0.0/16"}, "network 10.250.0.0/16 overlaps the VPC pool 10.128.0.0/9"),
    ):
        planless = cluster_id()
        kube.create(KVM_CONFIG, kvm_config(planless, namespace, network=network))
        wait_for(functools.partial(ready_reason, kube, planless, namespace, "AddressRefused"), timeout=30)
        assert expected in condition(kube, planless, namespace, "Ready")["message"]
        assert kube.get_or_none(NAMESPACE, planless) is None

    # A version refused at creation: nothing runs, the condition says why.
    late = cluster_id()
    kube.create(KVM_CONFIG, kvm_config(late, namespace, version="1.30.0"))
    wait_for(
        lambda: "not supported" in condition(kube, late, namespace, "Ready").get("message", ""),
        timeout=30,
        message="unsupported version refused",
    )
    assert kube.get_or_none(DEPLOYMENT, key.APISERVER, late) is None

    # An impossible spec the CRD lets through and the model refuses (a 100Mi VM), set after creation: InvalidSpec.
    # Its deletion does not read the spec, waits for nothing, and leaves nothing.
    kube.patch(KVM_CONFIG, late, {"spec": {"workerPools": [{"name": "tiny", "memory": "100Mi"}]}}, namespace)
    wait_for(
        lambda: condition(kube, late, namespace, "Ready").get("reason") == "InvalidSpec",
        timeout=30,
        message="the impossible spec a condition",
    )
    assert "512Mi to 256Gi" in condition(kube, late, namespace, "Ready")["message"]
    kube.delete(KVM_CONFIG, late, namespace)
    wait_for(lambda: kube.get_or_none(KVM_CONFIG, late, namespace) is None, timeout=15, message="deleted in seconds")
    assert kube.get_or_none(NAMESPACE, late) is None


def ready_reason(kube, name: str, namespace: str, reason: str) -> bool:
    return condition(kube, name, namespace, "Ready").get("reason") == reason


def test_a_control_plane_that_cannot_be_placed_says_why(kube, namespace, start_kvm):
    """More CPU than any node has: ControlPlaneAvailable carries the scheduler's own words, not just a count."""
    start_kvm()
    cluster = cluster_id()
    greedy = {"resources": {"apiserver": {"cpu": "64", "memory": "512Mi"}}}
    kube.create(KVM_CONFIG, kvm_config(cluster, namespace, controlPlane=greedy))
    wait_for(
        lambda: "Insufficient cpu" in condition(kube, cluster, namespace, "ControlPlaneAvailable").get("message", ""),
        timeout=60,
        message="the scheduler's reason in ControlPlaneAvailable",
    )
    available = condition(kube, cluster, namespace, "ControlPlaneAvailable")
    assert available["status"] == "False"
    assert available["reason"] == "Unschedulable"
    assert "pod apiserver-" in available["message"]
    assert "ControlPlaneAvailable" in condition(kube, cluster, namespace, "Ready")["message"]


def test_deletion_leaves_nothing(kube, namespace, start_kvm, bao):
    start_kvm()
    cluster = cluster_id()
    kube.create(KVM_CONFIG, kvm_config(cluster, namespace))
    wait_for(lambda: is_true(status(kube, cluster, namespace), "ControlPlaneAvailable"), timeout=90, message="up")
    wait_for(lambda: status(kube, cluster, namespace).get("kubeconfigSecret"), timeout=30, message="kubeconfig")
    assert f"pki-{cluster}/" in bao.sys.list_mounted_secrets_engines()["data"]
    kube.delete(KVM_CONFIG, cluster, namespace)
    wait_for(lambda: kube.get_or_none(KVM_CONFIG, cluster, namespace) is None, timeout=120, message="deleted")
    assert kube.get_or_none(NAMESPACE, cluster) is None
    assert kube.get_or_none(FLANNEL_CONFIG, cluster) is None
    assert kube.get_or_none(INGRESS_CONFIG, cluster) is None
    assert f"pki-{cluster}/" not in bao.sys.list_mounted_secrets_engines()["data"]
    wait_for(
        lambda: kube.get_or_none(SECRET, f"{cluster}-kubeconfig", namespace) is None,
        timeout=30,
        message="the kubeconfig garbage-collected",
    )


@pytest.mark.timeout(2100)  # two waves of up to 15 minutes each when the run starves this stream
def test_fifty_kvmconfigs_at_once_converge_each_on_its_own(kube, namespace, start_kvm, bao):
    """50 clusters created together: each gets its own namespace, CA (its own Vault mount) and certificates, its
    control plane available; then all deleted together, and nothing of any of them is left."""
    start_kvm(workers=8)
    clusters = [f"f{index:02d}{uuid.uuid4().hex[:4]}" for index in range(50)]
    for cluster in clusters:
        kube.create(KVM_CONFIG, kvm_config(cluster, namespace))

    def not_converged() -> dict[str, str]:
        """Each cluster's certificates not ready and control plane not available, and what its condition says."""
        configs = {c["metadata"]["name"]: c for c in kube.list(KVM_CONFIG, namespace)["items"]}
        pending = {}
        for cluster in clusters:
            st = (configs.get(cluster) or {}).get("status") or {}
            for type_ in ("CertificatesReady", "ControlPlaneAvailable"):
                if not is_true(st, type_):
                    said = get_condition(st, type_) or {}
                    pending[f"{cluster} {type_}"] = f"{said.get('reason', 'not reported')} {said.get('message', '')}"
        return pending

    # make test runs this stream niced beside the real-node stream's VMs, so the wave's pace is the CPU it gets:
    # it fails when no cluster's certificates or control plane come up for 5 minutes (stuck), not at a fixed time.
    took = wait_progressing(not_converged, stall=300, limit=900, message="50 clusters converging")
    print(f"\n50 KVMConfigs converged in {took:.0f} s")
    mounts = bao.sys.list_mounted_secrets_engines()["data"]
    for cluster in clusters:
        assert f"pki-{cluster}/" in mounts
        assert kube.get(CA_CONFIG, key.CA, cluster)["spec"]["clusterID"] == cluster
        certificates = kube.list(CERT_CONFIG, cluster)["items"]
        assert {c["spec"]["clusterID"] for c in certificates} == {cluster}
        assert len(certificates) == len(key.CERTIFICATES)
        assert status(kube, cluster, namespace)["kubeconfigSecret"] == f"{cluster}-kubeconfig"
    # 50 different root CAs: each guest trusts its own only.
    assert len({kube.get(CA_CONFIG, key.CA, cluster)["status"]["ca"]["serial"] for cluster in clusters}) == 50

    for cluster in clusters:
        kube.delete(KVM_CONFIG, cluster, namespace)
    took = wait_progressing(lambda: kvm_configs_left(kube, namespace), stall=300, limit=900, message="deleting")
    print(f"50 KVMConfigs deleted in {took:.0f} s")
    names = {ns["metadata"]["name"] for ns in kube.list(NAMESPACE)["items"]}
    assert not names & set(clusters)
    mounts = bao.sys.list_mounted_secrets_engines()["data"]
    assert not [cluster for cluster in clusters if f"pki-{cluster}/" in mounts]
