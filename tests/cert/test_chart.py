"""charts/cert-operator: lints for every Vault auth method, rejects bad values, is accepted by the API server, and
its namespaced RBAC is enough — and only what is used — for a CA's and a certificate's whole lifecycle."""

from __future__ import annotations

import functools
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from cert_operator.settings import CertSettings
from guestkit import CA_CONFIG, CERT_CONFIG
from kubeception_testenv import wait_for
from operatorkit import KubeClient, load_settings
from tests.cert.helpers import ca_config, cert_config, ready
from tests.charts import helm, operator_args, render_chart, service_account_kubeconfig

pytestmark = pytest.mark.servers

if TYPE_CHECKING:
    from collections.abc import Callable

    from kubeception_testenv import ControlPlane
    from operatorkit import Operator

CHART = Path(__file__).parents[2] / "charts" / "cert-operator"
AUTH_METHODS = {
    "kubernetes": ["vault.auth.method=kubernetes", "vault.auth.tokenReviewer=true"],
    "token": ["vault.auth.method=token", "vault.auth.secretName=vault-token"],
    "approle": ["vault.auth.method=approle", "vault.auth.secretName=vault-approle", "vault.auth.mount=approle-ops"],
}


@pytest.mark.parametrize("method", AUTH_METHODS)
def test_chart_lints_for_every_auth_method(method: str):
    result = helm("lint", str(CHART), *[f"--set={v}" for v in AUTH_METHODS[method]])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("method", AUTH_METHODS)
def test_chart_passes_flags_the_operator_understands(method: str):
    settings = load_settings(CertSettings, operator_args(render_chart(CHART, "ops", *AUTH_METHODS[method])))
    assert settings.vault.auth.method == method
    assert settings.vault.address == "https://vault.vault.svc:8200"


def test_chart_rejects_bad_values():
    bad = helm(
        "lint",
        str(CHART),
        "--set=workers=0",
        "--set=vault.address=vault:8200",
        "--set=vault.auth.method=approle",
        "--set=watchNamespace=Not_A_Namespace",
    )
    output = bad.stdout + bad.stderr
    assert bad.returncode != 0
    for path in ("/workers", "/vault/address", "/vault/auth/secretName", "/watchNamespace"):
        assert path in output, output


@pytest.mark.parametrize("method", AUTH_METHODS)
def test_rendered_chart_is_accepted_by_the_server(control_plane: ControlPlane, namespace: str, method: str):
    for scope in ([], [f"watchNamespace={namespace}"]):
        manifest = render_chart(CHART, namespace, *AUTH_METHODS[method], *scope)
        result = control_plane.kubectl("apply", "--dry-run=server", "-f", "-", input=manifest, check=False)
        assert result.returncode == 0, result.stderr


def test_rendered_policy_is_the_one_vault_enforces_in_the_tests():
    manifest = render_chart(CHART, "ops")
    policies = [d for d in yaml.safe_load_all(manifest) if d and d["metadata"]["name"].endswith("-vault-policy")]
    assert policies[0]["data"]["policy.hcl"].strip() == (CHART / "files" / "vault-policy.hcl").read_text().strip()


def test_operator_runs_with_exactly_the_charts_rbac(
    control_plane: ControlPlane,
    kube: KubeClient,
    namespace: str,
    start_cert_operator: Callable[..., Operator],
    tmp_path: Path,
):
    control_plane.kubectl("apply", "-f", "-", input=render_chart(CHART, namespace, f"watchNamespace={namespace}"))
    kubeconfig = service_account_kubeconfig(control_plane, kube, namespace, "cert-operator", tmp_path / "kubeconfig")
    denied = control_plane.kubectl(f"--kubeconfig={kubeconfig}", "get", "secrets", "-A", check=False)
    assert denied.returncode != 0, "the operator may not read Secrets outside its namespace"
    assert "forbidden" in denied.stderr

    start_cert_operator(client=KubeClient.load(str(kubeconfig)))
    cluster = f"c{uuid.uuid4().hex[:6]}"
    kube.create(CA_CONFIG, ca_config("ca", namespace, cluster))
    kube.create(CERT_CONFIG, cert_config("api", namespace, cluster))
    wait_for(functools.partial(ready, kube, CERT_CONFIG, "api", namespace), timeout=30, message="issued under RBAC")
    kube.delete(CERT_CONFIG, "api", namespace)
    kube.delete(CA_CONFIG, "ca", namespace)
    wait_for(lambda: kube.get_or_none(CA_CONFIG, "ca", namespace) is None, timeout=30, message="deleted under RBAC")
