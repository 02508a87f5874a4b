"""Least privilege, proven: each operator runs its whole lifecycle as its chart's ServiceAccount on a control
plane with the audit log on. Every grant the chart gives must show up in the audit log, and no request may be
denied; then the requests a compromised operator would make are refused (by RBAC or the chart's admission
policy)."""

from __future__ import annotations

import functools
import random
import re
import shlex
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aws_operator.controller import aws_controller
from aws_operator.shared import Shared as AWSShared
from aws_operator.spec import AWS_CONFIG
from cert_operator.controller import ca_controller, cert_controller, guest_controller
from cert_operator.spec import GUEST_CREDENTIAL_REQUEST
from cert_operator.vault import Vault
from cert_operator.vault_auth import TokenAuth
from flannel_operator.controller import flannel_controller, shared_parts
from flannel_operator.spec import FLANNEL_CONFIG
from guestkit import CA_CONFIG, CERT_CONFIG
from ingress_operator.controller import ingress_controller
from ingress_operator.controller import shared_parts as ingress_parts
from ingress_operator.settings import IngressSettings
from ingress_operator.spec import INGRESS_CONFIG
from kubeception_testenv import EtcdServer, LocalAddresses, wait_for
from kubeception_testenv._ports import free_port
from kvm_operator.controller import kvm_controller
from kvm_operator.settings import KVMSettings
from kvm_operator.shared import FLANNEL_CONFIG as KVM_FLANNEL_CONFIG
from kvm_operator.shared import INGRESS_CONFIG as KVM_INGRESS_CONFIG
from kvm_operator.shared import Shared as KVMShared
from kvm_operator.spec import KVM_CONFIG
from operatorkit import ApiError, Kind, KubeClient, Operator, is_true
from operatorkit.kinds import (
    CLUSTER_ROLE_BINDING,
    CONFIG_MAP,
    DAEMON_SET,
    DEPLOYMENT,
    EVENT,
    NAMESPACE,
    NETWORK_POLICY,
    POD,
    POD_DISRUPTION_BUDGET,
    SECRET,
    SERVICE,
    SERVICE_ACCOUNT,
    STATEFUL_SET,
)
from operatorkit.platform import DOMAIN_CLAIM
from operatorkit.testing import condition_of, in_process_settings, status_of
from tests.aws.conftest import aws_config
from tests.aws.conftest import credentials as aws_credentials
from tests.aws.conftest import settings as aws_settings
from tests.cert.helpers import ca_config, cert_config, ready
from tests.charts import render_chart, service_account_kubeconfig
from tests.flannel.conftest import flannel_config, settings_for
from tests.flannel.conftest import status as flannel_status
from tests.ingress.conftest import Agent, backend_service, cluster_namespace, ingress_config, set_endpoints
from tests.kvm.conftest import guest_client, kvm_config, play_flannel, pod_uid, register, start_guest
from tests.security.conftest import audit_events, denied, granted, install, used

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from kubeception_testenv import ControlPlane, MotoServer, OpenBaoServer

CHARTS = Path(__file__).parents[2] / "charts"
MANAGED_BY = "app.kubernetes.io/managed-by"


def as_service_account(plane: ControlPlane, admin: KubeClient, namespace: str, name: str, tmp: Path) -> KubeClient:
    return KubeClient.load(str(service_account_kubeconfig(plane, admin, namespace, name, tmp / f"{name}.kubeconfig")))


def installed_chart(
    plane: ControlPlane, admin: KubeClient, release: str, chart: str, workdir: Path
) -> tuple[str, KubeClient]:
    """The chart rendered and installed but for its workloads; its manifest and a client acting as its operator."""
    manifest = render_chart(CHARTS / chart, release)
    install(plane, manifest)
    return manifest, as_service_account(plane, admin, release, chart, workdir)


@pytest.fixture(scope="module")
def release(admin: KubeClient) -> Iterator[str]:
    namespace = f"ops-{uuid.uuid4().hex[:6]}"
    admin.create(NAMESPACE, {"metadata": {"name": namespace}})
    yield namespace
    admin.delete(NAMESPACE, namespace)


def assert_least_privilege(manifest: str, events: list[dict[str, Any]]) -> None:
    assert events, "the audit log recorded the operator's requests"
    assert denied(events) == [], "no request of the lifecycle was denied"
    unused = granted(manifest) - used(events)
    assert not unused, f"granted but never used: {sorted(map(str, unused))}"


def hand_over(
    plane: ControlPlane, admin: KubeClient, primary: Kind, name: str, namespace: str | None, what: str
) -> str:
    """Issue 29, finding 6: ``what`` existed before ``primary`` and is refused (NotOwned); the refusal's hint — a
    kubectl command naming the object's namespace and the primary's — is run as it reads, and the operator takes the
    object over under its chart's admission policy (nothing denied: assert_least_privilege). Returns the refusal."""

    def refusal() -> str | None:
        ready = condition_of(admin, primary, name, namespace) or {}
        message = str(ready.get("message") or "")
        return message if ready.get("reason") == "NotOwned" and message.startswith(what) else None

    message = wait_for(refusal, timeout=120, message=f"{what} refused")
    assert isinstance(message, str)
    hint = re.search(r"kubectl (annotate [^)]+)", message)
    assert hint is not None, message
    plane.kubectl(*shlex.split(hint.group(1)))
    admin.patch(primary, name, {"metadata": {"annotations": {"nudge": "handed-over"}}}, namespace)  # not a backoff
    return message


# -- flannel-operator ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def flannel_sa(audited: ControlPlane, admin: KubeClient, release: str, tmp_path_factory: pytest.TempPathFactory):
    return installed_chart(audited, admin, release, "flannel-operator", tmp_path_factory.mktemp("sa"))


def test_flannel_operator_uses_every_grant_and_is_denied_nothing(audited, admin, release, flannel_sa, tmp_path):
    manifest, client = flannel_sa
    with EtcdServer(tmp_path, tls=True, name="tls-etcd") as etcd:
        settings = settings_for(
            etcd,
            node_selector="type=kwok",
            leader_election={"enabled": True, "namespace": release, "id": "flannel-operator-leader"},
        )
        operator = Operator([flannel_controller(shared_parts(settings))], settings, client=client)
        operator.start()
        try:
            cluster = f"lp-{uuid.uuid4().hex[:6]}"
            admin.create(NAMESPACE, {"metadata": {"name": f"flannel-{cluster}"}})  # there before: handed over
            admin.create(FLANNEL_CONFIG, flannel_config(cluster))
            refused = hand_over(audited, admin, FLANNEL_CONFIG, cluster, None, f"Namespace flannel-{cluster}")
            assert f"kubeception.io/adopt=FlannelConfig/{cluster})" in refused
            wait_for(lambda: is_true(flannel_status(admin, cluster), "HostsReady"), timeout=60, message="ready")
            etcd.stop()  # a passing outage during a spec change: reported, the repeated Event aggregated
            admin.patch(FLANNEL_CONFIG, cluster, {"spec": {"subnetLen": 25}})
            wait_for(lambda: count_events(admin, "EtcdUnavailable") > 1, timeout=60, message="an aggregated Event")
            etcd.start()
            wait_for(
                lambda: (
                    flannel_status(admin, cluster).get("observedGeneration") == 2
                    and is_true(flannel_status(admin, cluster), "Ready")
                ),
                timeout=60,
                message="recovered and updated",
            )
            repair_drift(admin, cluster)
            admin.delete(FLANNEL_CONFIG, cluster)
            wait_for(lambda: admin.get_or_none(FLANNEL_CONFIG, cluster) is None, timeout=120, message="deleted")
        finally:
            operator.stop()
    assert_least_privilege(manifest, audit_events(audited, f"system:serviceaccount:{release}:flannel-operator"))


def repair_drift(admin: KubeClient, cluster: str) -> None:
    """Someone edits what the operator owns: it puts each object back."""
    namespace = f"flannel-{cluster}"
    tampered = "dGFtcGVyZWQ="  # base64 of "tampered"

    def label(kind: Kind, name: str, key: str, in_namespace: str | None = None) -> str | None:
        labels: dict[str, str] = admin.get(kind, name, in_namespace)["metadata"].get("labels", {})
        return labels.get(key)

    edits: list[tuple[Kind, str, str | None, dict[str, Any], Callable[[], bool]]] = [
        (
            NAMESPACE,
            namespace,
            None,
            {"metadata": {"labels": {"kubeception.io/cluster": "tampered"}}},
            lambda: label(NAMESPACE, namespace, "kubeception.io/cluster") == cluster,
        ),
        (
            SERVICE_ACCOUNT,
            "flannel",
            namespace,
            {"metadata": {"labels": {"kubeception.io/cluster": "tampered"}}},
            lambda: label(SERVICE_ACCOUNT, "flannel", "kubeception.io/cluster", namespace) == cluster,
        ),
        (
            CONFIG_MAP,
            "bridge-setup",
            namespace,
            {"data": {"cleanup.sh": "tampered"}},
            lambda: admin.get(CONFIG_MAP, "bridge-setup", namespace)["data"]["cleanup.sh"] != "tampered",
        ),
        (
            SECRET,
            "etcd-client",
            namespace,
            {"data": {"tls.key": tampered}},
            lambda: admin.get(SECRET, "etcd-client", namespace)["data"]["tls.key"] != tampered,
        ),
        (
            CLUSTER_ROLE_BINDING,
            namespace,
            None,
            {"metadata": {"labels": {"kubeception.io/cluster": "tampered"}}},
            lambda: label(CLUSTER_ROLE_BINDING, namespace, "kubeception.io/cluster") == cluster,
        ),
        (
            DAEMON_SET,
            "flannel",
            namespace,
            {"metadata": {"labels": {"kubeception.io/cluster": "tampered"}}},
            lambda: label(DAEMON_SET, "flannel", "kubeception.io/cluster", namespace) == cluster,
        ),
    ]
    for kind, name, in_namespace, patch, restored in edits:
        admin.patch(kind, name, patch, in_namespace)
        admin.patch(FLANNEL_CONFIG, cluster, {"metadata": {"annotations": {"nudge": kind.plural}}})  # or a resync
        wait_for(restored, timeout=30, message=f"{kind.kind} {name} restored")


def count_events(admin: KubeClient, reason: str) -> int:
    return sum(int(e.get("count", 1)) for e in admin.list(EVENT)["items"] if e.get("reason") == reason)


def refused(call: Any) -> str:
    """The API server's refusal of ``call`` (RBAC: 403; the chart's admission policy: 403 or 422)."""
    with pytest.raises(ApiError) as error:
        call()
    assert error.value.status in (403, 422), error.value
    return error.value.message


def test_flannel_operator_credentials_cannot_do_harm(admin, flannel_sa):
    _, client = flannel_sa
    role = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubeception:flannel-client"}
    binding: dict[str, Any] = {
        "metadata": {"name": "flannel-evil", "labels": {"app.kubernetes.io/managed-by": "flannel-operator"}},
        "roleRef": role,
        "subjects": [{"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"}],
    }
    assert "may only bind" in refused(lambda: client.create(CLUSTER_ROLE_BINDING, binding))
    escalate = {**binding, "roleRef": {**role, "name": "cluster-admin"}}
    refused(lambda: client.create(CLUSTER_ROLE_BINDING, escalate))
    refused(lambda: client.delete(CLUSTER_ROLE_BINDING, "system:basic-user"))
    admin.create(SECRET, {"metadata": {"name": "payroll", "namespace": "default"}, "stringData": {"k": "v"}})
    try:
        refused(lambda: client.get(SECRET, "payroll", "default"))
        refused(lambda: client.delete(SECRET, "payroll", "default"))
    finally:
        admin.delete(SECRET, "payroll", "default")
    refused(lambda: client.create(SECRET, {"metadata": {"name": "etcd-client", "namespace": "kube-system"}}))
    refused(lambda: client.patch(NAMESPACE, "default", {"metadata": {"labels": {"owned": "now"}}}))
    refused(lambda: client.delete(NAMESPACE, "default"))
    privileged = {
        "metadata": {"name": "miner", "namespace": "kube-system"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {
                    "hostNetwork": True,
                    "containers": [{"name": "c", "image": "x", "securityContext": {"privileged": True}}],
                },
            },
        },
    }
    assert "namespaces it owns" in refused(lambda: client.create(DAEMON_SET, privileged))


# -- cert-operator ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cert_sa(audited: ControlPlane, admin: KubeClient, release: str, tmp_path_factory: pytest.TempPathFactory):
    return installed_chart(audited, admin, release, "cert-operator", tmp_path_factory.mktemp("sa"))


def test_cert_operator_uses_every_grant_and_is_denied_nothing(audited, admin, release, cert_sa, openbao: OpenBaoServer):
    manifest, client = cert_sa
    vault = Vault(openbao.url, TokenAuth(openbao.root_token), ca_cert=str(openbao.ca_file))
    settings = in_process_settings(
        leader_election={"enabled": True, "namespace": release, "id": "cert-operator-leader"}
    )
    operator = Operator(
        [ca_controller(vault), cert_controller(vault, 1), guest_controller(vault)], settings, client=client
    )
    operator.start()
    namespace = f"tenant-{uuid.uuid4().hex[:6]}"
    admin.create(NAMESPACE, {"metadata": {"name": namespace}})
    try:
        cluster = f"lp{uuid.uuid4().hex[:6]}"
        admin.create(CONFIG_MAP, {"metadata": {"name": f"{cluster}-ca", "namespace": namespace}})  # handed over
        admin.create(CA_CONFIG, ca_config("ca", namespace, cluster))
        refused = hand_over(audited, admin, CA_CONFIG, "ca", namespace, f"ConfigMap {namespace}/{cluster}-ca")
        assert f"annotate it: kubectl annotate configmaps -n {namespace} {cluster}-ca" in refused
        admin.create(CERT_CONFIG, cert_config("api", namespace, cluster))
        wait_for(functools.partial(ready, admin, CERT_CONFIG, "api", namespace), timeout=30, message="issued")
        admin.patch(CERT_CONFIG, "api", {"spec": {"altNames": [f"www.{cluster}.local"]}}, namespace)  # re-issue
        wait_for(
            lambda: (
                status_of(admin, CERT_CONFIG, "api", namespace).get("observedGeneration") == 2
                and ready(admin, CERT_CONFIG, "api", namespace)
            ),
            timeout=30,
            message="re-issued",
        )
        admin.patch(CA_CONFIG, "ca", {"spec": {"rotation": {"id": "r1", "overlap": "0s"}}}, namespace)
        wait_for(
            lambda: (status_of(admin, CA_CONFIG, "ca", namespace).get("rotation") or {}).get("phase") == "Complete",
            timeout=60,
            message="CA rotated",
        )
        # A guest credential request for a cluster not in its namespace: the KVMConfig and AWSConfig are read by
        # name (GET), the request refused in its status; its deletion removes the finalizer.
        admin.create(GUEST_CREDENTIAL_REQUEST, guest_request("creds", namespace, cluster))
        issued = functools.partial(condition_of, admin, GUEST_CREDENTIAL_REQUEST, "creds", namespace, type_="Issued")
        wait_for(lambda: (issued() or {}).get("reason") == "ClusterNotFound", timeout=30, message="refused")
        admin.delete(GUEST_CREDENTIAL_REQUEST, "creds", namespace)
        wait_for(
            lambda: admin.get_or_none(GUEST_CREDENTIAL_REQUEST, "creds", namespace) is None,
            timeout=30,
            message="request deleted",
        )
        admin.create(CERT_CONFIG, cert_config("bad", namespace, cluster, role="nope"))  # Warning Events, repeated
        wait_for(lambda: count_events(admin, "UnknownRole") >= 1, timeout=30, message="refused")
        admin.patch(CERT_CONFIG, "bad", {"metadata": {"labels": {"again": "1"}}}, namespace)
        wait_for(lambda: count_events(admin, "UnknownRole") > 1, timeout=30, message="an aggregated Event")
        for name in ("api", "bad"):
            admin.delete(CERT_CONFIG, name, namespace)
        admin.delete(CA_CONFIG, "ca", namespace)
        wait_for(lambda: admin.get_or_none(CA_CONFIG, "ca", namespace) is None, timeout=30, message="deleted")
    finally:
        operator.stop()
        admin.delete(NAMESPACE, namespace)
    assert_least_privilege(manifest, audit_events(audited, f"system:serviceaccount:{release}:cert-operator"))


def guest_request(name: str, namespace: str, cluster: str) -> dict[str, Any]:
    """A GuestCredentialRequest as the organizations' admission policies leave it (not installed here)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return {
        "apiVersion": GUEST_CREDENTIAL_REQUEST.api_version,
        "kind": GUEST_CREDENTIAL_REQUEST.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "cluster": cluster,
            "user": "alice",
            "groups": ["devs"],
            "csr": csr.public_bytes(serialization.Encoding.PEM).decode(),
        },
    }


def test_cert_operator_credentials_cannot_do_harm(admin, cert_sa):
    _, client = cert_sa
    admin.create(SECRET, {"metadata": {"name": "payroll", "namespace": "default"}, "stringData": {"k": "v"}})
    try:
        assert "labels as its own" in refused(lambda: client.delete(SECRET, "payroll", "default"))
        refused(lambda: client.patch(SECRET, "payroll", {"stringData": {"k": "stolen"}}, "default"))
        opaque = {
            "metadata": {
                "name": "x",
                "namespace": "default",
                "labels": {"app.kubernetes.io/managed-by": "cert-operator"},
            },
            "type": "Opaque",
            "stringData": {"k": "v"},
        }
        assert "kubernetes.io/tls" in refused(lambda: client.create(SECRET, opaque))
        refused(lambda: client.delete(NAMESPACE, "default"))
    finally:
        admin.delete(SECRET, "payroll", "default")


# -- ingress-operator ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ingress_sa(audited: ControlPlane, admin: KubeClient, release: str, tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("sa")
    manifest, operator = installed_chart(audited, admin, release, "ingress-operator", workdir)
    agent = service_account_kubeconfig(audited, admin, release, "ingress-operator-haproxy", workdir / "agent")
    return manifest, operator, agent


def test_ingress_operator_and_agent_use_every_grant_and_are_denied_nothing(
    audited, admin, release, ingress_sa, tmp_path
):
    manifest, client, agent_kubeconfig = ingress_sa
    agent = Agent(agent_kubeconfig, release, tmp_path / "agent", table="ingress-operator-routes")
    settings = in_process_settings(
        IngressSettings,
        routing={"base_domain": "example.test", "tls_port": agent.tls_port, "http_port": agent.http_port},
        table={"namespace": release, "name": "ingress-operator-routes"},
        agents={"urls": [agent.url]},
        leader_election={"enabled": True, "namespace": release, "id": "ingress-operator"},
    )
    assert isinstance(settings, IngressSettings)
    operator = Operator([ingress_controller(ingress_parts(settings, client))], settings, client=client)
    operator.start()
    agent.start()
    cluster, stranger = f"lp{uuid.uuid4().hex[:6]}", f"st{uuid.uuid4().hex[:6]}"
    try:
        with LocalAddresses(2) as (address, second):
            backends = cluster_namespace(admin, cluster)
            backend_service(admin, backends, "apiserver", [(address, 6443)])
            admin.create(INGRESS_CONFIG, ingress_config(cluster, backends))
            wait_for(lambda: is_true(ingress_status(admin, cluster), "Ready"), timeout=60, message="served")
            set_endpoints(admin, backends, "apiserver", [(address, 6443), (second, 6443)])
            wait_for(
                lambda: [r["endpoints"] for r in ingress_status(admin, cluster).get("routes", [])] == [2],
                timeout=30,
                message="endpoints followed",
            )
            # Refused (another cluster's namespace), the Warning repeated and aggregated.
            admin.create(INGRESS_CONFIG, ingress_config(stranger, backends))
            wait_for(lambda: count_events(admin, "ForeignNamespace") >= 1, timeout=30, message="refused")
            admin.patch(INGRESS_CONFIG, stranger, {"metadata": {"labels": {"again": "1"}}})
            wait_for(lambda: count_events(admin, "ForeignNamespace") > 1, timeout=30, message="an aggregated Event")
            for name in (cluster, stranger):
                admin.delete(INGRESS_CONFIG, name)
            wait_for(lambda: not admin.list(INGRESS_CONFIG)["items"], timeout=60, message="deleted")
    finally:
        agent.stop()
        operator.stop()
    events = audit_events(audited, f"system:serviceaccount:{release}:ingress-operator")
    agent_events = audit_events(audited, f"system:serviceaccount:{release}:ingress-operator-haproxy")
    operator_roles, agent_roles = split_roles(manifest, "ingress-operator-haproxy")
    assert_least_privilege(operator_roles, events)
    assert_least_privilege(agent_roles, agent_events)


def split_roles(manifest: str, name: str) -> tuple[str, str]:
    """The chart's manifest as two: without the Role called ``name``, and with only it."""
    docs = [d for d in yaml.safe_load_all(manifest) if d]
    mine = [d for d in docs if d["kind"] in ("Role", "ClusterRole") and d["metadata"]["name"] == name]
    rest = [d for d in docs if d not in mine]
    return yaml.safe_dump_all(rest), yaml.safe_dump_all(mine)


def ingress_status(admin: KubeClient, name: str) -> dict[str, Any]:
    return dict(admin.get(INGRESS_CONFIG, name).get("status") or {})


def test_ingress_credentials_cannot_do_harm(admin, release, ingress_sa):
    _, client, agent_kubeconfig = ingress_sa
    agent = KubeClient.load(str(agent_kubeconfig))
    admin.create(CONFIG_MAP, {"metadata": {"name": "other", "namespace": release}, "data": {"k": "v"}})
    try:
        refused(lambda: client.patch(CONFIG_MAP, "other", {"data": {"k": "stolen"}}, release))
        refused(lambda: client.get(CONFIG_MAP, "other", release))
        refused(lambda: agent.get(CONFIG_MAP, "other", release))
        refused(lambda: agent.list(CONFIG_MAP, release))
    finally:
        admin.delete(CONFIG_MAP, "other", release)
    refused(lambda: client.list(SECRET, "default"))
    refused(lambda: client.patch(NAMESPACE, "default", {"metadata": {"labels": {"kubeception.io/cluster": "x"}}}))
    refused(lambda: client.patch(SERVICE, "kubernetes", {"spec": {"ports": [{"port": 1}]}}, "default"))
    refused(lambda: client.delete(INGRESS_CONFIG, "anything"))
    another_operators_claims(admin, client, "ingress-operator")


def another_operators_claims(admin: KubeClient, client: KubeClient, operator: str) -> None:
    """An operator's credentials cannot delete, change or forge another operator's claim on a name."""
    name, victim = (
        f"z{uuid.uuid4().hex[:6]}.example.org",
        "kvm-operator" if operator == "aws-operator" else "aws-operator",
    )
    admin.create(DOMAIN_CLAIM, domain_claim(name, victim))
    try:
        assert "its own" in refused(lambda: client.delete(DOMAIN_CLAIM, name))
        refused(lambda: client.patch(DOMAIN_CLAIM, name, {"metadata": {"labels": {MANAGED_BY: operator}}}))
        refused(lambda: client.create(DOMAIN_CLAIM, domain_claim(f"x.{name}", victim)))
    finally:
        admin.delete(DOMAIN_CLAIM, name)


def domain_claim(domain: str, operator: str) -> dict[str, Any]:
    return {
        "metadata": {"name": domain, "labels": {MANAGED_BY: operator}},
        "spec": {"domain": domain, "clusterID": "victim", "owner": "AWSConfig t/victim", "state": "Held"},
    }


def test_the_address_plan_is_enforced_at_admission(admin, release, aws_sa, kvm_sa, flannel_sa):
    """Issue 29, finding 4, at admission: the charts' address-plan policies (the platform values rendered into
    CEL) refuse a VPC in the flannel pool or on the mother's Service network, a KVM guest's pod range in the
    flannel pool or Service range on the mother's, a flannel network outside its pool — for anyone, with a message
    naming the range (dry-run creations: admission runs, nothing is stored); a change that leaves the ranges as
    they are is not checked again."""
    tenant = f"plan-{uuid.uuid4().hex[:6]}"
    admin.create(NAMESPACE, {"metadata": {"name": tenant}})
    try:
        vpc = aws_config(f"v{uuid.uuid4().hex[:6]}", tenant, vpcCIDR="10.64.0.0/16")
        first = wait_for(  # a new policy takes a moment to reach the API server's admission
            functools.partial(admission_refusal, admin, AWS_CONFIG, vpc), timeout=30, message="the policy active"
        )
        assert "outside the VPC pool 10.128.0.0/9" in str(first)
        vpc["spec"]["vpcCIDR"] = "10.96.0.0/16"
        assert "outside the VPC pool" in admission_refusal(admin, AWS_CONFIG, vpc)
        pods = kvm_config(f"k{uuid.uuid4().hex[:6]}", tenant, network={"podCIDR": "10.64.0.0/16"})
        services = kvm_config(f"k{uuid.uuid4().hex[:6]}", tenant, network={"serviceCIDR": "10.96.0.0/16"})
        network = flannel_config(f"f{uuid.uuid4().hex[:6]}")
        network["spec"]["network"] = "10.250.0.0/16"
        for kind, obj, expected in (
            (KVM_CONFIG, pods, "network.podCIDR 10.64.0.0/16 overlaps 10.64.0.0/10"),
            (KVM_CONFIG, services, "network.serviceCIDR 10.96.0.0/16 overlaps 10.96.0.0/12"),
            (FLANNEL_CONFIG, network, "outside the flannel pool 10.64.0.0/10"),
        ):
            assert expected in str(
                wait_for(functools.partial(admission_refusal, admin, kind, obj), timeout=30, message=expected)
            )
        fine = kvm_config(f"k{uuid.uuid4().hex[:6]}", tenant)
        admin.create(KVM_CONFIG, fine)  # no operator runs here: the object stays as it is
        admin.patch(KVM_CONFIG, fine["metadata"]["name"], {"metadata": {"labels": {"a": "b"}}}, tenant)
        admin.delete(KVM_CONFIG, fine["metadata"]["name"], tenant)
    finally:
        admin.delete(NAMESPACE, tenant)


def admission_refusal(admin: KubeClient, kind: Kind, obj: dict[str, Any]) -> str:
    """The message of the API server's refusal to create ``obj`` (a dry run), or "" when it would be created."""
    namespace = obj["metadata"].get("namespace")
    try:
        admin.request("POST", kind.path(namespace), query={"dryRun": "All"}, body=obj)
    except ApiError as exc:
        if exc.status not in (403, 422):
            raise
        return exc.message
    return ""


# -- kvm-operator ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def kvm_sa(audited: ControlPlane, admin: KubeClient, release: str, tmp_path_factory: pytest.TempPathFactory):
    return installed_chart(audited, admin, release, "kvm-operator", tmp_path_factory.mktemp("sa"))


def test_kvm_operator_uses_every_grant_and_is_denied_nothing(
    audited, admin, release, kvm_sa, openbao: OpenBaoServer, tmp_path
):
    manifest, client = kvm_sa
    vault = Vault(openbao.url, TokenAuth(openbao.root_token), ca_cert=str(openbao.ca_file))
    certs = Operator([ca_controller(vault), cert_controller(vault, 1)], in_process_settings(), client=admin)
    guest_port = free_port()
    settings = in_process_settings(
        KVMSettings,
        versions={"supported": ["1.36.3", "1.36.4"]},
        leader_election={"enabled": True, "namespace": release, "id": "kvm-operator"},
        routing={"address": "127.0.0.1", "port": guest_port},
        vms={"repair_after_seconds": 10, "health_check_seconds": 1},
    )
    assert isinstance(settings, KVMSettings)
    operator = Operator([kvm_controller(KVMShared(settings))], settings, client=client)
    certs.start()
    operator.start()
    tenant, other = f"tenant-{uuid.uuid4().hex[:6]}", f"other-{uuid.uuid4().hex[:6]}"
    for name in (tenant, other):
        admin.create(NAMESPACE, {"metadata": {"name": name}})
    cluster = f"lp{uuid.uuid4().hex[:6]}"
    try:
        theirs = {"metadata": {"name": f"{cluster}-kubeconfig", "namespace": tenant}, "stringData": {"value": "x"}}
        admin.create(SECRET, theirs)  # the tenant's own, there before: handed over as the refusal says
        admin.create(KVM_CONFIG, kvm_config(cluster, tenant, workerPools=[{"name": "default", "cpus": 1}]))
        refused = hand_over(audited, admin, KVM_CONFIG, cluster, tenant, f"Secret {tenant}/{cluster}-kubeconfig")
        assert f"kubeception.io/adopt=KVMConfig/{tenant}/{cluster})" in refused
        wait_for(lambda: kvm_status(admin, cluster, tenant).get("kubeconfigSecret"), timeout=90, message="kubeconfig")
        wait_for(lambda: is_true(kvm_status(admin, cluster, tenant), "ControlPlaneAvailable"), timeout=60, message="up")
        repair_kvm_drift(admin, cluster, tenant)
        repair_a_worker(admin, cluster, tenant, guest_port, tmp_path)
        admin.patch(KVM_CONFIG, cluster, {"spec": {"kubernetesVersion": "1.36.4"}}, tenant)
        wait_for(
            lambda: kvm_status(admin, cluster, tenant).get("kubernetesVersion") == "1.36.4",
            timeout=120,
            message="upgraded",
        )
        admin.create(KVM_CONFIG, kvm_config(cluster, other))  # the same id elsewhere: refused, Warning repeated
        wait_for(lambda: count_events(admin, "NotOwned") > 1, timeout=60, message="an aggregated Event")
        for namespace in (other, tenant):
            admin.delete(KVM_CONFIG, cluster, namespace)
        wait_for(lambda: not admin.list(KVM_CONFIG)["items"], timeout=120, message="deleted")
    finally:
        operator.stop()
        certs.stop()
        for name in (tenant, other):
            admin.delete(NAMESPACE, name)
    assert_least_privilege(manifest, audit_events(audited, f"system:serviceaccount:{release}:kvm-operator"))


def repair_a_worker(admin: KubeClient, cluster: str, tenant: str, port: int, workdir: Path) -> None:
    """A worker VM whose guest Node stays NotReady: its pod is deleted (the one right on pods) and comes back."""
    play_flannel(admin, cluster)
    with (
        EtcdServer(workdir / "etcd", name=f"etcd-{cluster}") as etcd,
        start_guest(admin, cluster, workdir, port, etcd),
    ):
        wait_for(lambda: pod_uid(admin, cluster, "worker-default-0"), timeout=60, message="the VM's pod")
        first = pod_uid(admin, cluster, "worker-default-0")
        register(guest_client(admin, cluster, tenant, port, workdir), "worker-default-0", ready=False)
        wait_for(
            lambda: pod_uid(admin, cluster, "worker-default-0") not in (None, first),
            timeout=60,
            message="the VM repaired",
        )


def kvm_status(admin: KubeClient, name: str, namespace: str) -> dict[str, Any]:
    return dict(admin.get(KVM_CONFIG, name, namespace).get("status") or {})


def repair_kvm_drift(admin: KubeClient, cluster: str, tenant: str) -> None:
    """Someone edits what kvm-operator owns: it puts each object back (a patch of each kind)."""
    edits: list[tuple[Kind, str, str | None]] = [
        (NAMESPACE, cluster, None),
        (SERVICE, "apiserver", cluster),
        (CONFIG_MAP, "component-kubeconfigs", cluster),
        (NETWORK_POLICY, "etcd", cluster),
        (POD_DISRUPTION_BUDGET, "etcd", cluster),
        (CA_CONFIG, "ca", cluster),
        (CERT_CONFIG, "admin", cluster),
        (KVM_FLANNEL_CONFIG, cluster, None),
        (KVM_INGRESS_CONFIG, cluster, None),
    ]
    repair_cluster_drift(admin, KVM_CONFIG, cluster, tenant, edits)


def repair_cluster_drift(
    admin: KubeClient, primary: Kind, cluster: str, tenant: str, edits: list[tuple[Kind, str, str | None]]
) -> None:
    """Each of ``edits`` tampered with, then the cluster's kubeconfig Secret: the operator puts each back."""
    for kind, name, namespace in edits:
        admin.patch(kind, name, {"metadata": {"labels": {"kubeception.io/cluster": "tampered"}}}, namespace)
        admin.patch(primary, cluster, {"metadata": {"annotations": {"nudge": kind.plural}}}, tenant)
        wait_for(
            functools.partial(labelled, admin, kind, name, namespace, cluster),
            timeout=30,
            message=f"{kind.kind} {name} restored",
        )
    secret = f"{cluster}-kubeconfig"
    admin.patch(SECRET, secret, {"metadata": {"annotations": {"kubeception.io/endpoint": "https://evil"}}}, tenant)
    admin.patch(primary, cluster, {"metadata": {"annotations": {"nudge": "kubeconfig"}}}, tenant)
    wait_for(
        lambda: (
            admin.get(SECRET, secret, tenant)["metadata"]["annotations"]["kubeception.io/endpoint"] != "https://evil"
        ),
        timeout=30,
        message="kubeconfig rewritten",
    )


def labelled(admin: KubeClient, kind: Kind, name: str, namespace: str | None, cluster: str) -> bool:
    return bool(admin.get(kind, name, namespace)["metadata"]["labels"]["kubeception.io/cluster"] == cluster)


def test_kvm_credentials_cannot_do_harm(admin, kvm_sa):
    _, client = kvm_sa
    secret = {
        "metadata": {
            "name": "x-kubeconfig",
            "namespace": "kube-system",
            "labels": {"app.kubernetes.io/managed-by": "kvm-operator"},
        }
    }
    assert "never in kube-*" in refused(lambda: client.create(SECRET, secret))
    admin.create(SECRET, {"metadata": {"name": "payroll-kubeconfig", "namespace": "default"}, "stringData": {"k": "v"}})
    try:
        assert "its own" in refused(lambda: client.delete(SECRET, "payroll-kubeconfig", "default"))
        refused(lambda: client.patch(SECRET, "payroll-kubeconfig", {"stringData": {"k": "stolen"}}, "default"))
    finally:
        admin.delete(SECRET, "payroll-kubeconfig", "default")
    refused(lambda: client.delete(NAMESPACE, "default"))
    refused(lambda: client.patch(NAMESPACE, "kube-system", {"metadata": {"labels": {"owned": "now"}}}))
    deployment = {
        "metadata": {
            "name": "miner",
            "namespace": "default",
            "labels": {"app.kubernetes.io/managed-by": "kvm-operator"},
        },
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
        },
    }
    assert "namespaces it owns" in refused(lambda: client.create(DEPLOYMENT, deployment))
    refused(lambda: client.delete(CLUSTER_ROLE_BINDING, "system:basic-user"))

    # Worker VMs need privileges; the operator's credentials cannot spend them anywhere else.
    mine = {"app.kubernetes.io/managed-by": "kvm-operator"}
    loose = {"metadata": {"name": "loose", "labels": {**mine, "pod-security.kubernetes.io/enforce": "privileged"}}}
    assert "workers' namespaces" in refused(lambda: client.create(NAMESPACE, loose))
    unlabelled = {"metadata": {"name": "unlabelled", "labels": mine}}  # the mother's default might be privileged
    assert "workers' namespaces" in refused(lambda: client.create(NAMESPACE, unlabelled))
    admin.create(NAMESPACE, {"metadata": {"name": "x-workers", "labels": mine}})
    try:
        miner = {
            "metadata": {"name": "miner", "namespace": "x-workers", "labels": mine},
            "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "serviceName": "miner",
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {
                        "hostNetwork": True,
                        "containers": [{"name": "c", "image": "evil", "securityContext": {"privileged": True}}],
                    },
                },
            },
        }
        assert "only the VM launcher image" in refused(lambda: client.create(STATEFUL_SET, miner))
    finally:
        admin.delete(NAMESPACE, "x-workers")
    web = {
        "metadata": {"name": "web", "namespace": "default", "labels": mine},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    }
    admin.create(POD, web)
    try:
        assert "namespaces it owns" in refused(lambda: client.delete(POD, "web", "default"))
    finally:
        admin.delete(POD, "web", "default")
    another_operators_claims(admin, client, "kvm-operator")


# -- aws-operator ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def aws_sa(audited: ControlPlane, admin: KubeClient, release: str, tmp_path_factory: pytest.TempPathFactory):
    return installed_chart(audited, admin, release, "aws-operator", tmp_path_factory.mktemp("sa"))


def test_aws_operator_uses_every_grant_and_is_denied_nothing(
    audited, admin, release, aws_sa, openbao: OpenBaoServer, moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch
):
    """An AWS guest's life as the chart's ServiceAccount: created (PKI, kubeconfig), edited objects put back, a
    second AWSConfig with the same id refused, deleted."""
    manifest, client = aws_sa
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    vault = Vault(openbao.url, TokenAuth(openbao.root_token), ca_cert=str(openbao.ca_file))
    certs = Operator([ca_controller(vault), cert_controller(vault, 1)], in_process_settings(), client=admin)
    settings = aws_settings(
        moto_server.url, leader_election={"enabled": True, "namespace": release, "id": "aws-operator"}
    )
    operator = Operator([aws_controller(AWSShared(settings))], settings, client=client)
    certs.start()
    operator.start()
    tenant, other = f"tenant-{uuid.uuid4().hex[:6]}", f"other-{uuid.uuid4().hex[:6]}"
    for name in (tenant, other):
        admin.create(NAMESPACE, {"metadata": {"name": name}})
        aws_credentials(admin, name, f"arn:aws:iam::{random.randrange(10**11, 10**12)}:role/kubeception")
    cluster = f"lp{uuid.uuid4().hex[:6]}"
    try:
        theirs = {"metadata": {"name": f"{cluster}-kubeconfig", "namespace": tenant}, "stringData": {"value": "x"}}
        admin.create(SECRET, theirs)  # the tenant's own, there before: handed over as the refusal says
        admin.create(AWS_CONFIG, aws_config(cluster, tenant))
        hand_over(audited, admin, AWS_CONFIG, cluster, tenant, f"Secret {tenant}/{cluster}-kubeconfig")
        wait_for(lambda: is_true(aws_status(admin, cluster, tenant), "Ready"), timeout=120, message="Ready")
        repair_aws_drift(admin, cluster, tenant)
        admin.create(AWS_CONFIG, aws_config(cluster, other))  # the same id elsewhere: refused, Warning repeated
        wait_for(lambda: count_events(admin, "NotOwned") > 1, timeout=60, message="an aggregated Event")
        for namespace in (other, tenant):
            admin.delete(AWS_CONFIG, cluster, namespace)
        wait_for(lambda: not admin.list(AWS_CONFIG)["items"], timeout=120, message="deleted")
    finally:
        operator.stop()
        certs.stop()
        for name in (tenant, other):
            admin.delete(NAMESPACE, name)
    assert_least_privilege(manifest, audit_events(audited, f"system:serviceaccount:{release}:aws-operator"))


def aws_status(admin: KubeClient, name: str, namespace: str) -> dict[str, Any]:
    return dict(admin.get(AWS_CONFIG, name, namespace).get("status") or {})


def repair_aws_drift(admin: KubeClient, cluster: str, tenant: str) -> None:
    """Someone edits what aws-operator owns on the mother: it puts each object back (a patch of each kind)."""
    edits: list[tuple[Kind, str, str | None]] = [
        (NAMESPACE, cluster, None),
        (CA_CONFIG, "ca", cluster),
        (CERT_CONFIG, "admin", cluster),
    ]
    repair_cluster_drift(admin, AWS_CONFIG, cluster, tenant, edits)


def test_aws_credentials_cannot_do_harm(admin, aws_sa):
    _, client = aws_sa
    mine = {"app.kubernetes.io/managed-by": "aws-operator"}
    refused(lambda: client.create(NAMESPACE, {"metadata": {"name": f"x-{uuid.uuid4().hex[:6]}", "labels": mine}}))
    refused(lambda: client.create(SECRET, {"metadata": {"name": "stolen", "namespace": "default", "labels": mine}}))
    refused(lambda: client.delete(SECRET, "anything", "kube-system"))
    refused(lambda: client.list(DEPLOYMENT, "kube-system"))
    other = {"metadata": {"name": f"z{uuid.uuid4().hex[:6]}.example.org", "labels": {MANAGED_BY: "kvm-operator"}}}
    other["spec"] = {
        "domain": other["metadata"]["name"],
        "clusterID": "victim",
        "owner": "KVMConfig t/v",
        "state": "Held",
    }
    admin.create(DOMAIN_CLAIM, other)
    try:
        assert "its own" in refused(lambda: client.delete(DOMAIN_CLAIM, other["metadata"]["name"]))
    finally:
        admin.delete(DOMAIN_CLAIM, other["metadata"]["name"])
