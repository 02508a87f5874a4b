"""charts/kubeception-organizations on a real API server: two organizations, a member of one authenticated by his
own client certificate, the roles a RoleBinding grants, and each organization's quota enforced at admission."""

from __future__ import annotations

import functools
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aws_operator.spec import AWS_CONFIG
from kubeception_testenv import find_binary
from kvm_operator.spec import KVM_CONFIG
from operatorkit import ApiError, KubeClient
from operatorkit.kinds import CLUSTER_ROLE, CONFIG_MAP, EVENT, NAMESPACE, ROLE_BINDING, SECRET, Kind
from operatorkit.testing import apply_crds, wait_until
from tests.charts import remove_organizations

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from kubeception_testenv import ControlPlane

pytestmark = pytest.mark.servers

ROOT = Path(__file__).parents[2]
CHART = ROOT / "charts" / "kubeception-organizations"
CONFIRM_DELETE = "kubeception.io/confirm-delete"
RESOURCE_QUOTA_PATH = "/api/v1/namespaces/{}/resourcequotas/kubeception-organization"
CREDENTIAL_REQUEST = Kind("kubeception.io/v1alpha1", "GuestCredentialRequest", "guestcredentialrequests")
QUOTA = {
    "kvmClusters": 2,
    "awsClusters": 1,
    "workersPerCluster": 3,
    "cpusPerCluster": 8,
    "memoryPerCluster": "6Gi",
    "controlPlaneReplicas": 1,
}


@dataclass(frozen=True)
class Organizations:
    a: str  # org-<a>: alice is its cluster-admin, group <a>-team its viewers
    b: str  # org-<b>: nobody of these tests is bound there
    name_a: str
    alice_name: str
    admin: KubeClient
    alice: KubeClient
    viewer: KubeClient


def delete_confirmed(client: KubeClient, kind: Kind, name: str, namespace: str) -> None:
    """Delete a cluster of an organization as its deletion protection asks: confirmed by name first."""
    client.patch(kind, name, {"metadata": {"annotations": {CONFIRM_DELETE: name}}}, namespace)
    client.delete(kind, name, namespace)


def render(values: dict[str, Any], path: Path) -> str:
    path.write_text(yaml.safe_dump(values))
    result = subprocess.run(
        [str(find_binary("helm")), "template", "orgs", str(CHART), f"--values={path}", "--kube-version=1.36.3"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def kvm(name: str, *, pools: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"clusterID": name, "kubernetesVersion": "1.36.3", "workerPools": pools or [], **spec},
    }


def aws(name: str, *, pools: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "clusterID": name,
            "kubernetesVersion": "1.36.3",
            "region": "eu-central-1",
            "availabilityZones": ["eu-central-1a"],
            "credentials": {"secretName": "aws-account"},
            "workerPools": pools or [],
            **spec,
        },
    }


def refusal(call: Callable[[], object]) -> ApiError:
    with pytest.raises(ApiError) as refused:
        call()
    return refused.value


def cluster_id() -> str:
    return f"c-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def orgs(
    control_plane: ControlPlane, kube: KubeClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Organizations]:
    apply_crds(
        kube,
        *(
            ROOT / "crds" / f"{plural}.kubeception.io.yaml"
            for plural in ("kvmconfigs", "awsconfigs", "guestcredentialrequests")
        ),
    )
    suffix = uuid.uuid4().hex[:6]
    name_a, name_b = f"a-{suffix}", f"b-{suffix}"
    alice = f"alice-{suffix}"
    values = {
        "organizations": [
            {"name": name_a, "admins": {"users": [alice]}, "viewers": {"groups": [f"{name_a}-team"]}, "quota": QUOTA},
            {"name": name_b, "credentials": {"maxTTL": "30m", "access": ["view", "masters"]}},
        ]
    }
    manifest = render(values, tmp_path_factory.mktemp("orgs") / "values.yaml")
    control_plane.kubectl("apply", "-f", "-", input=manifest)
    a, b = f"org-{name_a}", f"org-{name_b}"

    # Ready when the roles are aggregated, the quota counted, and the policies in force (a refused probe).
    wait_until(lambda: kube.get(CLUSTER_ROLE, "kubeception:cluster-admin").get("rules"), timeout=30)

    def counted(namespace: str) -> bool:
        """The quota controller counts a kind only once its discovery (every 30 s) has found it, and counts a quota
        made before that only at its next full resync (5 min): a quota not counted yet is made again."""
        path = RESOURCE_QUOTA_PATH.format(namespace)
        quota = kube.request("GET", path)
        if "count/kvmconfigs.kubeception.io" in (quota.get("status", {}).get("used") or {}):
            return True
        kube.request("DELETE", path)
        kube.request(
            "POST",
            path.rpartition("/")[0],
            body={"metadata": {k: quota["metadata"][k] for k in ("name", "labels")}, "spec": quota["spec"]},
        )
        return False

    for namespace in (a, b):
        wait_until(
            functools.partial(counted, namespace),
            timeout=90,
            interval=5,
            message=f"the ResourceQuota of {namespace} is counted",
        )

    def probe_refused() -> bool:
        try:
            kube.create(KVM_CONFIG, kvm("probe", organization=name_b), namespace=a)
        except ApiError as error:
            return error.status in (400, 403, 422) and "ValidatingAdmissionPolicy" in error.message
        delete_confirmed(kube, KVM_CONFIG, "probe", a)
        return False

    wait_until(probe_refused, timeout=30, message="the organization policies are in force")

    def deletion_refused() -> bool:
        """A probe cluster made (once the quota's parameters are seen) and its plain delete refused."""
        try:
            if kube.get_or_none(KVM_CONFIG, "probe-delete", a) is None:
                kube.create(KVM_CONFIG, kvm("probe-delete"), namespace=a)
            kube.delete(KVM_CONFIG, "probe-delete", a)
        except ApiError as error:
            return "deletion-protection" in error.message
        return False

    wait_until(deletion_refused, timeout=30, message="deletion protection is in force")
    delete_confirmed(kube, KVM_CONFIG, "probe-delete", a)

    def probe_identity() -> bool:
        probe = {"metadata": {"generateName": "probe-"}, "spec": {"cluster": "demo", "csr": CSR}}
        made = kube.create(CREDENTIAL_REQUEST, probe, a)
        kube.delete(CREDENTIAL_REQUEST, made["metadata"]["name"], a)
        return True

    wait_until(probe_identity, timeout=30, message="the credential policies are in force")
    try:
        yield Organizations(
            a=a,
            b=b,
            name_a=name_a,
            alice_name=alice,
            admin=kube,
            alice=KubeClient.load(str(control_plane.user_kubeconfig(alice, ("devs",)))),
            viewer=KubeClient.load(str(control_plane.user_kubeconfig(f"viewer-{suffix}", (f"{name_a}-team",)))),
        )
    finally:
        remove_organizations(control_plane, a, b)


def test_chart_lints_and_rejects_bad_values(tmp_path: Path) -> None:
    helm = str(find_binary("helm"))
    assert subprocess.run([helm, "lint", str(CHART)], capture_output=True, check=False).returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "organizations": [
                    {"name": "Not_A_Label", "admins": {"users": [""]}, "credentials": {"access": ["root"]}}
                ],
                "defaultQuota": {"memoryPerCluster": "lots", "controlPlaneReplicas": 2},
            }
        )
    )
    result = subprocess.run([helm, "lint", str(CHART), f"--values={bad}"], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    for field in (
        "/organizations/0/name",
        "/organizations/0/admins/users/0",
        "/organizations/0/credentials",
        "/defaultQuota",
    ):
        assert field in result.stdout + result.stderr, field


def test_an_organization_is_a_labelled_namespace_with_its_quota(orgs: Organizations) -> None:
    namespace = orgs.admin.get(NAMESPACE, orgs.a)
    assert namespace["metadata"]["labels"]["kubeception.io/organization"] == orgs.name_a
    assert namespace["metadata"]["labels"]["kubeception.io/role"] == "organization"
    hard = orgs.admin.request("GET", RESOURCE_QUOTA_PATH.format(orgs.a))["spec"]["hard"]
    assert hard == {"count/kvmconfigs.kubeception.io": "2", "count/awsconfigs.kubeception.io": "1"}


def test_a_member_manages_clusters_in_their_organization_and_nothing_in_another(orgs: Organizations) -> None:
    alice, name = orgs.alice, cluster_id()
    # create, scale, upgrade, read, delete in her organization
    alice.create(KVM_CONFIG, kvm(name, pools=[{"name": "default", "replicas": 1}]), namespace=orgs.a)
    alice.patch(KVM_CONFIG, name, {"spec": {"workerPools": [{"name": "default", "replicas": 2}]}}, orgs.a)
    alice.patch(KVM_CONFIG, name, {"spec": {"kubernetesVersion": "1.36.4"}}, orgs.a)
    assert [i["metadata"]["name"] for i in alice.list(KVM_CONFIG, orgs.a)["items"]] == [name]
    alice.list(EVENT, orgs.a)
    assert alice.get(CONFIG_MAP, "kubeception-organization", orgs.a)["data"]["workersPerCluster"] == "3"
    alice.request("GET", RESOURCE_QUOTA_PATH.format(orgs.a))

    # the viewers read and change nothing
    assert [i["metadata"]["name"] for i in orgs.viewer.list(KVM_CONFIG, orgs.a)["items"]] == [name]
    assert refusal(lambda: orgs.viewer.create(KVM_CONFIG, kvm(cluster_id()), namespace=orgs.a)).status == 403
    assert refusal(lambda: orgs.viewer.delete(KVM_CONFIG, name, orgs.a)).status == 403

    # nothing of another organization, nor what the role leaves out of her own
    other = cluster_id()
    orgs.admin.create(KVM_CONFIG, kvm(other), namespace=orgs.b)
    forbidden: list[tuple[str, Callable[[], object]]] = [
        ("create a cluster in b", lambda: alice.create(KVM_CONFIG, kvm(cluster_id()), namespace=orgs.b)),
        ("list b's clusters", lambda: alice.list(KVM_CONFIG, orgs.b)),
        ("read b's cluster", lambda: alice.get(KVM_CONFIG, other, orgs.b)),
        ("scale b's cluster", lambda: alice.patch(KVM_CONFIG, other, {"spec": {"workerPools": []}}, orgs.b)),
        ("delete b's cluster", lambda: alice.delete(KVM_CONFIG, other, orgs.b)),
        ("read b's quota", lambda: alice.request("GET", RESOURCE_QUOTA_PATH.format(orgs.b))),
        ("read b's events", lambda: alice.list(EVENT, orgs.b)),
        ("list clusters everywhere", lambda: alice.list(KVM_CONFIG)),
        ("read a Secret of her organization", lambda: alice.list(SECRET, orgs.a)),
        ("read her cluster's admin kubeconfig", lambda: alice.get(SECRET, f"{name}-kubeconfig", orgs.a)),
        (
            "raise her own quota",
            lambda: alice.patch(CONFIG_MAP, "kubeception-organization", {"data": {"workersPerCluster": "99"}}, orgs.a),
        ),
        (
            "write the cluster's status",
            lambda: alice.patch(KVM_CONFIG, name, {"status": {}}, orgs.a, subresource="status"),
        ),
        ("relabel her namespace", lambda: alice.patch(NAMESPACE, orgs.a, {"metadata": {"labels": {"x": "y"}}})),
    ]
    for what, call in forbidden:
        assert refusal(call).status == 403, what
    delete_confirmed(alice, KVM_CONFIG, name, orgs.a)


def test_only_platform_admins_write_an_organizations_quota(orgs: Organizations) -> None:
    """Even where RBAC lets a member write ConfigMaps (the built-in edit role), the quota's is refused."""
    binding = {
        "metadata": {"name": "edit"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": orgs.alice_name}],
    }
    orgs.admin.create(ROLE_BINDING, binding, namespace=orgs.a)
    try:
        raise_quota = functools.partial(
            orgs.alice.patch, CONFIG_MAP, "kubeception-organization", {"data": {"workersPerCluster": "99"}}, orgs.a
        )
        # RBAC now lets her (other ConfigMaps are hers to write); admission does not
        wait_until(lambda: orgs.alice.create(CONFIG_MAP, {"metadata": {"name": "hers"}}, orgs.a), timeout=30)
        delete_all = functools.partial(orgs.alice.request, "DELETE", f"/api/v1/namespaces/{orgs.a}/configmaps")
        delete = functools.partial(orgs.alice.delete, CONFIG_MAP, "kubeception-organization", orgs.a)
        for call in (raise_quota, delete, delete_all):
            error = refusal(call)
            assert error.status == 403
            assert f"the quota of organization {orgs.name_a} is written only by its platform admins" in error.message
            assert f"not by {orgs.alice_name}" in error.message
        assert orgs.admin.get(CONFIG_MAP, "kubeception-organization", orgs.a)["data"]["workersPerCluster"] == "3"
    finally:
        orgs.admin.delete(ROLE_BINDING, "edit", orgs.a)
        orgs.admin.delete(CONFIG_MAP, "hers", orgs.a)  # False if her deletecollection took it


def test_an_organization_goes_with_its_quota(orgs: Organizations) -> None:
    """The quota's guard lets the namespace controller empty a namespace being deleted."""
    name = f"org-c-{uuid.uuid4().hex[:6]}"
    labels = {"kubeception.io/role": "organization", "kubeception.io/organization": name}
    orgs.admin.create(NAMESPACE, {"metadata": {"name": name, "labels": labels}})
    orgs.admin.create(CONFIG_MAP, {"metadata": {"name": "kubeception-organization"}, "data": {}}, name)
    orgs.admin.delete(NAMESPACE, name)
    wait_until(lambda: orgs.admin.get_or_none(NAMESPACE, name) is None, timeout=60, message=f"{name} is gone")


def test_a_cluster_names_only_its_own_organization(orgs: Organizations) -> None:
    name = cluster_id()
    refused = refusal(lambda: orgs.alice.create(KVM_CONFIG, kvm(name, organization="b"), namespace=orgs.a))
    assert f"spec.organization is b, but namespace {orgs.a} is organization {orgs.name_a}" in refused.message
    assert "AWSConfig" not in refused.message
    refused = refusal(lambda: orgs.alice.create(AWS_CONFIG, aws(name, organization="b"), namespace=orgs.a))
    assert f"leave it empty or set it to {orgs.name_a}" in refused.message
    orgs.alice.create(KVM_CONFIG, kvm(name, organization=orgs.name_a), namespace=orgs.a)
    assert refusal(lambda: orgs.alice.patch(KVM_CONFIG, name, {"spec": {"organization": "b"}}, orgs.a)).status == 403
    delete_confirmed(orgs.alice, KVM_CONFIG, name, orgs.a)


POOL = {"name": "p", "replicas": 1, "cpus": 1, "memory": "512Mi"}
REFUSED_SPECS: list[tuple[Kind, Callable[[str], dict[str, Any]], str]] = [
    (
        KVM_CONFIG,
        lambda n: kvm(n, pools=[{**POOL, "replicas": 4}]),
        "asks for 4 worker VMs; organization {org} allows 3",
    ),
    (
        KVM_CONFIG,
        lambda n: kvm(n, pools=[{**POOL, "name": "x", "replicas": 2}, {**POOL, "name": "y", "replicas": 2}]),
        "asks for 4 worker VMs; organization {org} allows 3 per cluster (workersPerCluster",
    ),
    (KVM_CONFIG, lambda n: kvm(n, pools=[{**POOL, "replicas": 2, "cpus": 6}]), "asks for 12 CPUs for its workers"),
    (
        KVM_CONFIG,
        lambda n: kvm(n, pools=[{**POOL, "replicas": 2, "memory": "4Gi"}]),
        "asks for 8192Mi of memory for its workers; organization {org} allows 6Gi per cluster (memoryPerCluster",
    ),
    (
        KVM_CONFIG,
        lambda n: kvm(n, controlPlane={"replicas": 3}),
        "asks for 3 control-plane replicas; organization {org} allows 1",
    ),
    (
        AWS_CONFIG,
        lambda n: aws(n, pools=[{"name": "p", "minSize": 1, "desired": 1, "maxSize": 4}]),
        "may grow to 4 workers (the pools maxSize together); organization {org} allows 3",
    ),
    (AWS_CONFIG, lambda n: aws(n, masters={"replicas": 3}), "asks for 3 masters; organization {org} allows 1"),
]


@pytest.mark.parametrize(("kind", "manifest", "message"), REFUSED_SPECS)
def test_a_cluster_beyond_the_organizations_limits_is_refused_naming_the_limit(
    orgs: Organizations, kind: Kind, manifest: Callable[[str], dict[str, Any]], message: str
) -> None:
    refused = refusal(lambda: orgs.alice.create(kind, manifest(cluster_id()), namespace=orgs.a))
    assert refused.status == 403
    assert message.format(org=orgs.name_a) in refused.message
    assert f"{orgs.a}/configmap/kubeception-organization" in refused.message


def test_the_organizations_quota_counts_clusters_and_admits_what_fits(orgs: Organizations) -> None:
    alice, first, second = orgs.alice, cluster_id(), cluster_id()
    # exactly at every limit: 3 workers, 6 of 8 CPUs, 6Gi
    alice.create(KVM_CONFIG, kvm(first, pools=[{**POOL, "replicas": 3, "cpus": 2, "memory": "2Gi"}]), namespace=orgs.a)
    alice.create(KVM_CONFIG, kvm(second), namespace=orgs.a)
    refused = refusal(lambda: alice.create(KVM_CONFIG, kvm(cluster_id()), namespace=orgs.a))
    assert refused.status == 403
    assert "exceeded quota: kubeception-organization" in refused.message
    assert "limited: count/kvmconfigs.kubeception.io=2" in refused.message

    # scaling up past a limit is refused; a limit lowered under a cluster still lets it shrink and go
    refused = refusal(
        lambda: alice.patch(KVM_CONFIG, first, {"spec": {"workerPools": [{**POOL, "replicas": 4}]}}, orgs.a)
    )
    assert "asks for 4 worker VMs" in refused.message
    orgs.admin.patch(CONFIG_MAP, "kubeception-organization", {"data": {"workersPerCluster": "1"}}, orgs.a)
    try:
        wait_until(
            lambda: (
                "allows 1 per cluster"
                in refusal(
                    lambda: alice.patch(
                        KVM_CONFIG, second, {"spec": {"workerPools": [{**POOL, "replicas": 2}]}}, orgs.a
                    )
                ).message
            ),
            timeout=30,
        )
        alice.patch(
            KVM_CONFIG, first, {"spec": {"workerPools": [{**POOL, "replicas": 2, "cpus": 2, "memory": "2Gi"}]}}, orgs.a
        )
        alice.patch(KVM_CONFIG, first, {"metadata": {"labels": {"touched": "yes"}}}, orgs.a)  # still above: unchanged
    finally:
        orgs.admin.patch(CONFIG_MAP, "kubeception-organization", {"data": {"workersPerCluster": "3"}}, orgs.a)
    for name in (first, second):
        delete_confirmed(alice, KVM_CONFIG, name, orgs.a)


def test_without_its_quota_an_organization_gets_no_new_cluster_and_keeps_its_old_ones(orgs: Organizations) -> None:
    admin, name = orgs.admin, cluster_id()
    admin.create(KVM_CONFIG, kvm(name, pools=[{**POOL, "replicas": 2}]), namespace=orgs.b)
    saved = admin.get(CONFIG_MAP, "kubeception-organization", orgs.b)
    admin.delete(CONFIG_MAP, "kubeception-organization", orgs.b)

    def refused_create() -> ApiError | None:
        """A new cluster's refusal; one admitted before the policy saw the ConfigMap go is deleted, and tried again."""
        other = cluster_id()
        try:
            admin.create(KVM_CONFIG, kvm(other), namespace=orgs.b)
        except ApiError as error:
            return error
        delete_confirmed(admin, KVM_CONFIG, other, orgs.b)
        return None

    try:
        refused = wait_until(
            refused_create, timeout=30, message="a cluster in an organization without its ConfigMap is refused"
        )
        assert "'kubeception-organization-kvm-quota-create' denied request" in refused.message
        assert "no params found" in refused.message
        # an operator's finalizer comes off, the cluster scales and goes
        admin.patch(KVM_CONFIG, name, {"metadata": {"finalizers": ["kubeception.io/test"]}}, orgs.b)
        admin.patch(KVM_CONFIG, name, {"spec": {"workerPools": [{**POOL, "replicas": 1}]}}, orgs.b)
        delete_confirmed(admin, KVM_CONFIG, name, orgs.b)
        admin.patch(KVM_CONFIG, name, {"metadata": {"finalizers": None}}, orgs.b)
        wait_until(lambda: admin.get_or_none(KVM_CONFIG, name, orgs.b) is None, timeout=30)
    finally:
        admin.create(
            CONFIG_MAP,
            {
                "metadata": {"name": saved["metadata"]["name"], "labels": saved["metadata"].get("labels", {})},
                "data": saved["data"],
            },
            namespace=orgs.b,
        )


def csr_pem(common_name: str = "me", organization: str | None = None, key: Any = None) -> str:
    """A certificate request as the plugin makes it: a key the user keeps, and a subject the issuer ignores."""
    names = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        names.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    key = key or ec.generate_private_key(ec.SECP256R1())
    request = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names)).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM).decode()


CSR = csr_pem()


def credential_request(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"cluster": "demo", "csr": CSR, **spec}}


def test_a_credential_request_is_for_the_requesters_own_identity(orgs: Organizations) -> None:
    alice, user = orgs.alice, orgs.alice_name
    made = alice.create(CREDENTIAL_REQUEST, credential_request("mine"), namespace=orgs.a)
    assert made["spec"]["user"] == user
    assert set(made["spec"]["groups"]) == {"devs", "system:authenticated"}
    assert (made["spec"]["access"], made["spec"]["ttl"]) == ("view", "1h")
    own = alice.create(
        CREDENTIAL_REQUEST, credential_request("own", user=user, groups=["devs"], access="admin", ttl="8h"), orgs.a
    )
    assert own["spec"]["groups"] == ["devs"]

    refused: list[tuple[dict[str, Any], str]] = [
        ({"user": "bob"}, f"spec.user is bob, but you are {user}: a credential is only for the name the mother"),
        ({"user": "system:admin"}, f"spec.user is system:admin, but you are {user}"),
        ({"groups": ["devs", "system:masters"]}, "spec.groups names system:masters, which you are not in"),
        ({"groups": ["b-team"]}, "spec.groups names b-team, which you are not in"),
        ({"access": "masters"}, f"organization {orgs.name_a} grants guest access view,edit,admin, not masters"),
        ({"ttl": "9h"}, f"a ttl of 9h is beyond organization {orgs.name_a}'s 8h (credentialMaxTTL in {orgs.a}/"),
        ({"ttl": "481m"}, "a ttl of 481m is beyond"),
    ]
    for index, (spec, message) in enumerate(refused):
        error = refusal(
            functools.partial(alice.create, CREDENTIAL_REQUEST, credential_request(f"r{index}", **spec), orgs.a)
        )
        assert error.status == 403, spec
        assert message in error.message, (spec, error.message)

    # the identity admitted stays: the spec cannot change, not even by a platform admin
    error = refusal(lambda: orgs.admin.patch(CREDENTIAL_REQUEST, "mine", {"spec": {"user": "bob"}}, orgs.a))
    assert "a credential request cannot change" in error.message
    # nobody asks in another organization, nor a viewer in their own
    assert refusal(lambda: alice.create(CREDENTIAL_REQUEST, credential_request("x"), namespace=orgs.b)).status == 403
    assert (
        refusal(lambda: orgs.viewer.create(CREDENTIAL_REQUEST, credential_request("x"), namespace=orgs.a)).status == 403
    )


def test_system_masters_and_ttls_follow_the_organization(orgs: Organizations) -> None:
    # organization b lists masters and caps at 30m; the platform admin (in system:masters) asks there as himself
    made = orgs.admin.create(CREDENTIAL_REQUEST, credential_request("admin", access="masters", ttl="30m"), orgs.b)
    assert "system:masters" in made["spec"]["groups"]
    error = refusal(lambda: orgs.admin.create(CREDENTIAL_REQUEST, credential_request("long", ttl="1h"), orgs.b))
    assert "a ttl of 1h is beyond" in error.message
    error = refusal(
        lambda: orgs.admin.create(CREDENTIAL_REQUEST, credential_request("e", access="edit", ttl="5m"), orgs.b)
    )
    assert "grants guest access view,masters, not edit" in error.message


def test_a_cluster_is_deleted_only_once_confirmed_by_name(orgs: Organizations) -> None:
    """Deletion protection: a plain delete of a member's cluster — or a platform admin's, or a confirmation naming
    another cluster — is refused with the command that confirms; confirmed by its own name, it goes."""
    alice, name = orgs.alice, cluster_id()
    alice.create(KVM_CONFIG, kvm(name), namespace=orgs.a)
    for who in (alice, orgs.admin):
        refused = refusal(functools.partial(who.delete, KVM_CONFIG, name, orgs.a))
        assert refused.status == 403, refused.message
        assert f"KVMConfig {orgs.a}/{name} is protected from deletion" in refused.message
        assert f"kubectl annotate kvmconfigs -n {orgs.a} {name} {CONFIRM_DELETE}={name}" in refused.message
    alice.patch(KVM_CONFIG, name, {"metadata": {"annotations": {CONFIRM_DELETE: "another"}}}, orgs.a)
    assert refusal(lambda: alice.delete(KVM_CONFIG, name, orgs.a)).status == 403
    delete_confirmed(alice, KVM_CONFIG, name, orgs.a)
    assert alice.get_or_none(KVM_CONFIG, name, orgs.a) is None
