"""cert-operator logging in to a real OpenBao (HTTPS, verified against its CA) with Kubernetes auth (TokenReview
against the real control plane) and AppRole, holding only the chart's Vault policy; tokens renewed and replaced as
their TTLs run out."""

from __future__ import annotations

import functools
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import hvac
import hvac.exceptions
import pytest

from cert_operator.vault import Vault, VaultUnavailable
from cert_operator.vault_auth import AppRoleAuth, KubernetesAuth, TokenAuth
from guestkit import CA_CONFIG, CERT_CONFIG
from kubeception_testenv import wait_for
from kubeception_testenv._pki import LocalPKI
from operatorkit.testing import metric_sum, status_of
from tests.cert.helpers import ca_config, cert_config, ready

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kubeception_testenv import ControlPlane, OpenBaoServer
    from operatorkit import KubeClient

POLICY = Path(__file__).parents[2] / "charts" / "cert-operator" / "files" / "vault-policy.hcl"


def auth_count(action: str, result: str = "ok") -> float:
    return metric_sum("kubeception_vault_auth_total", action=action, result=result)


@pytest.fixture
def policy(bao: hvac.Client) -> str:
    bao.sys.create_or_update_policy("cert-operator", POLICY.read_text())
    return "cert-operator"


@pytest.fixture
def service_account_jwt(control_plane: ControlPlane, namespace: str, tmp_path: Path) -> Iterator[Path]:
    """A token of service account ``cert-operator`` allowed to review tokens, as the chart grants it."""
    binding = f"cert-operator-auth-delegator-{namespace}"
    control_plane.kubectl("-n", namespace, "create", "serviceaccount", "cert-operator")
    control_plane.kubectl(
        "create",
        "clusterrolebinding",
        binding,
        "--clusterrole=system:auth-delegator",
        f"--serviceaccount={namespace}:cert-operator",
    )
    jwt = tmp_path / "token"
    jwt.write_text(control_plane.kubectl("-n", namespace, "create", "token", "cert-operator").stdout.strip())
    yield jwt
    control_plane.kubectl("delete", "clusterrolebinding", binding, check=False)


def lifecycle(kube: KubeClient, namespace: str, bao: hvac.Client, cluster: str) -> None:
    """Everything the operator does in Vault, under the restricted policy: mount, CA, roles, issuance, rotation,
    revocation, unmount."""
    kube.create(CA_CONFIG, ca_config("ca", namespace, cluster))
    kube.create(CERT_CONFIG, cert_config("api", namespace, cluster, ttl="60s", renewBefore="50s"))
    wait_for(functools.partial(ready, kube, CERT_CONFIG, "api", namespace), timeout=30, message="issued")
    kube.patch(CA_CONFIG, "ca", {"spec": {"rotation": {"id": "r1", "overlap": "1s"}}}, namespace)
    wait_for(
        lambda: status_of(kube, CA_CONFIG, "ca", namespace).get("rotation", {}).get("phase") == "Complete",
        timeout=60,
        message="rotation complete",
    )
    kube.delete(CERT_CONFIG, "api", namespace)
    kube.delete(CA_CONFIG, "ca", namespace)
    wait_for(lambda: kube.get_or_none(CA_CONFIG, "ca", namespace) is None, timeout=30, message="CA deleted")
    assert f"pki-{cluster}/" not in bao.sys.list_mounted_secrets_engines()["data"]


def test_kubernetes_auth_with_token_renewal_and_the_chart_policy(
    kube, namespace, bao, openbao, control_plane, policy, service_account_jwt, start_cert_operator
):
    mount = f"kubernetes-{uuid.uuid4().hex[:6]}"
    bao.sys.enable_auth_method("kubernetes", path=mount)
    bao.write(
        f"auth/{mount}/config",
        kubernetes_host=control_plane.url,
        kubernetes_ca_cert=control_plane.apiserver.ca.cert.read_text(),
    )
    bao.write(
        f"auth/{mount}/role/cert-operator",
        bound_service_account_names="cert-operator",
        bound_service_account_namespaces=namespace,
        token_policies=policy,
        token_no_default_policy=True,
        token_ttl="6s",
        token_max_ttl="12s",
    )
    logins, renewals, failures = auth_count("login"), auth_count("renew"), auth_count("login", "error")
    start_cert_operator(auth=KubernetesAuth("cert-operator", mount, str(service_account_jwt)))
    cluster = f"k{uuid.uuid4().hex[:6]}"
    lifecycle(kube, namespace, bao, cluster)
    # A certificate renewed every 2 s keeps the operator calling Vault; its 6 s tokens (12 s max) must be renewed,
    # then replaced by a new login.
    kube.create(CA_CONFIG, ca_config("ca2", namespace, cluster))
    kube.create(CERT_CONFIG, cert_config("short", namespace, cluster, ttl="60s", renewBefore="58s"))
    wait_for(
        lambda: auth_count("login") >= logins + 2 and auth_count("renew") >= renewals + 2,
        timeout=60,
        message="tokens renewed, and replaced by new logins at their max TTL",
    )
    first = status_of(kube, CERT_CONFIG, "short", namespace)["serial"]
    wait_for(
        lambda: status_of(kube, CERT_CONFIG, "short", namespace).get("serial") not in (None, first),
        timeout=30,
        message="a renewal with a fresh token",
    )
    assert auth_count("login", "error") == failures

    # The policy reaches the pki-* mounts and nothing else.
    client = hvac.Client(url=openbao.url, verify=str(openbao.ca_file))
    client.auth.kubernetes.login("cert-operator", service_account_jwt.read_text(), mount_point=mount)
    with pytest.raises(hvac.exceptions.Forbidden):
        client.sys.list_mounted_secrets_engines()
    with pytest.raises(hvac.exceptions.Forbidden):
        client.read("sys/auth")
    with pytest.raises(hvac.exceptions.Forbidden):
        client.sys.enable_secrets_engine("kv", path="not-pki")


def test_approle_auth(kube, namespace, bao, policy, start_cert_operator, tmp_path):
    mount = f"approle-{uuid.uuid4().hex[:6]}"
    bao.sys.enable_auth_method("approle", path=mount)
    bao.write(f"auth/{mount}/role/cert-operator", token_policies=policy, token_ttl="1m", token_max_ttl="10m")
    role_id, secret_id = tmp_path / "role-id", tmp_path / "secret-id"
    role_id.write_text(bao.read(f"auth/{mount}/role/cert-operator/role-id")["data"]["role_id"])
    secret_id.write_text(bao.write(f"auth/{mount}/role/cert-operator/secret-id")["data"]["secret_id"])
    start_cert_operator(auth=AppRoleAuth(str(role_id), str(secret_id), mount))
    lifecycle(kube, namespace, bao, f"p{uuid.uuid4().hex[:6]}")


def test_vault_is_verified_against_the_configured_ca_only(openbao: OpenBaoServer, tmp_path: Path):
    """cert-operator's client trusts the CA it is given: OpenBao's own lets it in; a CA that did not sign OpenBao's
    certificate — or none, the system's trust store — refuses the connection before a token is sent."""

    def mounts(ca_cert: str | None) -> object:
        vault = Vault(openbao.url, TokenAuth(openbao.root_token), ca_cert=ca_cert)
        return vault.call("list the mounts", lambda client: client.sys.list_mounted_secrets_engines())

    assert openbao.url.startswith("https://")
    assert "sys/" in mounts(str(openbao.ca_file))["data"]  # type: ignore[index]
    stranger = LocalPKI(tmp_path / "stranger").ca.cert
    for ca_cert in (str(stranger), None):
        with pytest.raises(VaultUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            mounts(ca_cert)
