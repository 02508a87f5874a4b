"""The mother the plugin's tests talk to: the CRDs of crds/, charts/kubeception-organizations' roles and admission
policies, two organizations and a member of one authenticated by her own client certificate (one per test module)."""

from __future__ import annotations

import datetime
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeception_testenv import find_binary
from kubectl_kubeception import login as plugin_login
from kubectl_kubeception.mother import CREDENTIAL_REQUEST
from operatorkit.kinds import CLUSTER_ROLE
from operatorkit.testing import apply_crds, wait_until
from tests.charts import remove_organizations

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kubeception_testenv import ControlPlane
    from operatorkit import KubeClient

ROOT = Path(__file__).parents[2]
CHART = ROOT / "charts" / "kubeception-organizations"


@dataclass(frozen=True)
class Orgs:
    a: str  # org-<name_a>: alice is its cluster-admin
    b: str  # org-<name_b>: nobody of these tests is bound there
    name_a: str
    name_b: str
    admin: KubeClient
    admin_config: Path
    alice: str
    alice_config: Path


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def orgs(control_plane: ControlPlane, kube: KubeClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orgs]:
    tmp = tmp_path_factory.mktemp("plugin")
    apply_crds(
        kube,
        *(
            ROOT / "crds" / f"{plural}.kubeception.io.yaml"
            for plural in ("kvmconfigs", "awsconfigs", "caconfigs", "certconfigs", "flannelconfigs", "ingressconfigs")
        ),
        ROOT / "crds" / "guestcredentialrequests.kubeception.io.yaml",
    )
    suffix = uuid.uuid4().hex[:6]
    name_a, name_b, alice = f"pa-{suffix}", f"pb-{suffix}", f"alice-{suffix}"
    values = tmp / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "organizations": [
                    {"name": name_a, "admins": {"users": [alice]}, "quota": {"workersPerCluster": 3}},
                    {"name": name_b},
                ]
            }
        )
    )
    rendered = subprocess.run(
        [str(find_binary("helm")), "template", "orgs", str(CHART), f"--values={values}", "--kube-version=1.36.3"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # The quota's object counts are tests/organizations' subject, and a ResourceQuota on a kind installed seconds ago
    # is counted only minutes later: left out here, so clusters are made at once.
    manifest = yaml.safe_dump_all(d for d in yaml.safe_load_all(rendered) if d and d["kind"] != "ResourceQuota")
    control_plane.kubectl("apply", "-f", "-", input=manifest)
    a, b = f"org-{name_a}", f"org-{name_b}"
    wait_until(lambda: kube.get(CLUSTER_ROLE, "kubeception:cluster-admin").get("rules"), timeout=30)

    def identity_set() -> bool:
        csr = plugin_login.csr_pem(plugin_login.new_key("ec"), "probe")
        probe = {"metadata": {"generateName": "probe-"}, "spec": {"cluster": "probe", "csr": csr}}
        made = kube.create(CREDENTIAL_REQUEST, probe, a)
        kube.delete(CREDENTIAL_REQUEST, made["metadata"]["name"], a)
        return bool(made["spec"].get("user"))

    wait_until(identity_set, timeout=30, message="the credential policies are in force")
    try:
        yield Orgs(
            a=a,
            b=b,
            name_a=name_a,
            name_b=name_b,
            admin=kube,
            admin_config=control_plane.kubeconfig,
            alice=alice,
            alice_config=control_plane.user_kubeconfig(alice),
        )
    finally:
        remove_organizations(control_plane, a, b)


def operator_status(kube: KubeClient, kind: Any, name: str, namespace: str, status: dict[str, Any]) -> None:
    """What the cluster's operator would write in its status."""
    kube.patch(kind, name, {"status": status}, namespace, subresource="status")


def ready(message: str) -> list[dict[str, str]]:
    return [{"type": "Ready", "status": "True", "reason": "Ready", "message": message, "lastTransitionTime": now()}]


def cluster_id() -> str:
    return f"c-{uuid.uuid4().hex[:8]}"


def sign(control_plane: ControlPlane, csr_pem: str, user: str) -> tuple[str, str]:
    """What cert-operator's issuer does, with the control plane's CA standing in for the guest's: a client
    certificate for the request's user (never the CSR's subject) and the CSR's key."""
    ca_cert = x509.load_pem_x509_certificate(control_plane.pki.ca.cert.read_bytes())
    ca_key = serialization.load_pem_private_key(control_plane.pki.ca.key.read_bytes(), password=None)
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user)]))
        .issuer_name(ca_cert.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(hours=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), hex(certificate.serial_number)


def pending_request(orgs: Orgs, cluster: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        items = orgs.admin.list(CREDENTIAL_REQUEST, orgs.a)["items"]
        return next((i for i in items if i["spec"]["cluster"] == cluster and not i.get("status")), None)

    request: dict[str, Any] = wait_until(found, timeout=30, message=f"a GuestCredentialRequest for {cluster}")
    return request


def issue(orgs: Orgs, control_plane: ControlPlane, request: dict[str, Any]) -> None:
    """The issuer's answer: the CSR signed for the request's user, the CA, the serial, ``Issued`` True."""
    certificate, serial = sign(control_plane, request["spec"]["csr"], request["spec"]["user"])
    operator_status(orgs.admin, CREDENTIAL_REQUEST, request["metadata"]["name"], orgs.a, {
        "certificate": certificate, "ca": control_plane.pki.ca.cert.read_text(), "serialNumber": serial,
        "notAfter": "in an hour",
        "conditions": [{"type": "Issued", "status": "True", "reason": "Signed", "message": serial,
                        "lastTransitionTime": now()}],
    })  # fmt: skip


def whoami(kubeconfig: Path) -> str:
    """Who the API server authenticates ``kubeconfig``'s current context as (``kubectl auth whoami``)."""
    answer = subprocess.run(
        [str(find_binary("kubectl")), f"--kubeconfig={kubeconfig}", "auth", "whoami",
         "-o", "jsonpath={.status.userInfo.username}"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    return answer.stdout or answer.stderr
