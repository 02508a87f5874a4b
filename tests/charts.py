"""Helm charts under test: render them with the helm the test environment built, and act as their ServiceAccount."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import yaml

from kubeception_testenv import find_binary

if TYPE_CHECKING:
    from pathlib import Path

    from kubeception_testenv import ControlPlane
    from operatorkit import KubeClient


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(find_binary("helm")), *args], capture_output=True, text=True, check=False)


def render_chart(chart: Path, namespace: str, *values: str) -> str:
    result = helm(
        "template",
        chart.name,
        str(chart),
        f"--namespace={namespace}",
        "--kube-version=1.36.3",
        *[f"--set={v}" for v in values],
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def without_address_plan(manifest: str) -> str:
    """The manifest without the chart's address-plan admission policy: installed for real in the suites' shared
    control plane it would check every tenant's objects of the later tests against the chart's default plan
    (tests/security installs it on a control plane of its own and tests it there)."""
    docs = [d for d in yaml.safe_load_all(manifest) if d]
    return yaml.safe_dump_all([d for d in docs if not d["metadata"]["name"].endswith("-address-plan")])


def service_account_kubeconfig(
    control_plane: ControlPlane, kube: KubeClient, namespace: str, name: str, path: Path
) -> Path:
    token = kube.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}},
    )["status"]["token"]
    config = control_plane.kubeconfig_dict()
    config["users"] = [{"name": "admin", "user": {"token": token}}]
    path.write_text(yaml.safe_dump(config))
    return path


def operator_args(manifest: str) -> list[str]:
    """The command-line arguments the chart's Deployment passes to the operator container."""
    for doc in yaml.safe_load_all(manifest):
        if doc and doc["kind"] == "Deployment":
            return list(doc["spec"]["template"]["spec"]["containers"][0]["args"])
    raise AssertionError("the chart renders no Deployment")


def remove_organizations(control_plane: ControlPlane, *namespaces: str) -> None:
    """A test's organizations go with their namespaces (the namespace controller deletes their clusters past the
    deletion protection); charts/kubeception-organizations' cluster-wide roles and policies stay, the same for every
    suite that installs it: a policy deleted and made again reads its parameters only minutes later ("no params
    found"), refusing the next suite's clusters."""
    for namespace in namespaces:
        control_plane.kubectl("delete", "namespace", "--wait=false", namespace, check=False)
