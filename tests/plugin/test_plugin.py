"""`kubectl kubeception` against a real API server: the CRDs of crds/, charts/kubeception-organizations' roles and
admission policies, two organizations and a member of one authenticated by her own client certificate. No operator
runs: the test writes each cluster's status as kvm-operator and aws-operator would, through the real API.

`login` is answered here by the test acting as cert-operator's issuer (signing the request's CSR with the control
plane's own CA, so the kubeconfig written can be tried for real against this API server). The real issuer is
exercised by cert-operator's tests; wiring the two together is left for after both are merged."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from kubeception_testenv import find_binary
from kubectl_kubeception.cli import cli
from kubectl_kubeception.mother import AWS_CONFIG, CERT_CONFIG, CREDENTIAL_REQUEST, KVM_CONFIG
from operatorkit.kinds import NAMESPACE, SECRET
from tests.plugin.conftest import Orgs, cluster_id, issue, now, operator_status, pending_request, ready, whoami

if TYPE_CHECKING:
    from click.testing import Result

    from kubeception_testenv import ControlPlane

pytestmark = pytest.mark.servers

BIN = Path(sys.executable).parent  # where kubectl-kubeception is installed, beside kubectl


def run(config: Path, *args: str) -> Result:
    """The plugin in-process, as ``kubectl kubeception <args>`` with the mother's kubeconfig ``config``."""
    return CliRunner().invoke(cli, [*args, f"--kubeconfig={config}"], catch_exceptions=False)


def expect(result: Result, code: int, *words: str) -> None:
    assert result.exit_code == code, result.output
    for word in words:
        assert word in result.output, result.output


def test_a_member_creates_lists_describes_scales_and_upgrades_her_clusters(orgs: Orgs) -> None:
    kvm, aws = cluster_id(), cluster_id()
    # --dry-run=client prints the manifest and stores nothing; the manifest is what a real create stores
    printed = run(orgs.alice_config, "create", "cluster", kvm, "-n", orgs.a, "--version=1.36.3", "--workers=2",
                  "--dry-run=client", "-o", "yaml")  # fmt: skip
    assert printed.exit_code == 0, printed.output
    manifest = yaml.safe_load(printed.output)
    assert manifest["spec"]["workerPools"] == [{"name": "default", "replicas": 2}]
    assert orgs.admin.get_or_none(KVM_CONFIG, kvm, orgs.a) is None
    server_dry = run(orgs.alice_config, "create", "cluster", kvm, "-n", orgs.a, "--version=1.36.3", "--dry-run=server")
    assert server_dry.exit_code == 0, server_dry.output
    assert orgs.admin.get_or_none(KVM_CONFIG, kvm, orgs.a) is None

    # the CRD's validation and the organization's admission policy judge, and their words reach the person
    bad = run(orgs.alice_config, "create", "cluster", kvm, "-n", orgs.a, "--version=1.36.3", "--memory=2GB")
    assert bad.exit_code == 5, bad.output
    assert "spec.workerPools[0].memory" in bad.output
    too_big = run(orgs.alice_config, "create", "cluster", kvm, "-n", orgs.a, "--version=1.36.3", "--workers=4")
    assert too_big.exit_code == 5, too_big.output
    assert "workersPerCluster" in too_big.output

    assert (
        run(orgs.alice_config, "create", "cluster", kvm, "-n", orgs.a, "--version=1.36.3", "--workers=2").exit_code == 0
    )
    elsewhere = run(orgs.alice_config, "create", "cluster", aws, "-n", orgs.a, "--kind=aws", "--version=1.36.3",
                    "--region=eu-west-1", "--zone=eu-west-1a", "--zone=eu-central-1a")  # fmt: skip
    expect(elsewhere, 5, "availability zone eu-central-1a is not in region eu-west-1")
    made = run(orgs.alice_config, "create", "cluster", aws, "-n", orgs.a, "--kind=aws", "--version=1.36.3")
    assert made.exit_code == 0, made.output
    stored = orgs.admin.get(KVM_CONFIG, kvm, orgs.a)
    assert stored["spec"]["workerPools"] == [
        {"name": "default", "replicas": 2, "cpus": 2, "memory": "2Gi", "disk": "10Gi"}  # the CRD's defaults
    ]

    endpoint = f"https://api.{kvm}.example.test:443"
    operator_status(orgs.admin, KVM_CONFIG, kvm, orgs.a, {
        "kubernetesVersion": "1.36.3", "workers": "1/2", "endpoint": endpoint, "controlPlaneReady": "1/1",
        "conditions": [*ready(f"Kubernetes 1.36.3 at {endpoint}"), {
            "type": "WorkersReady", "status": "False", "reason": "Joining", "message": "worker-default-1 not Ready",
            "lastTransitionTime": now(),
        }],
        "workerPools": [{"name": "default", "desired": 2, "ready": 1, "upToDate": 2, "version": "1.36.3", "nodes": [
            {"name": "worker-default-0", "ready": True, "version": "1.36.3", "accelerator": "kvm", "upToDate": True},
            {"name": "worker-default-1", "ready": False, "version": "1.36.3", "accelerator": "kvm", "upToDate": True},
        ]}],
    })  # fmt: skip

    listed = run(orgs.alice_config, "get", "clusters", "-n", orgs.a)
    assert listed.exit_code == 0, listed.output
    rows = {line.split()[1]: line.split() for line in listed.output.splitlines()[1:]}
    # her organization's name from its ConfigMap: members cannot read the namespace's label
    assert rows[kvm] == [orgs.name_a, kvm, "KVMConfig", "1.36.3", "1/2", "True", endpoint, rows[kvm][-1]]
    assert rows[aws] == [orgs.name_a, aws, "AWSConfig", "1.36.3", "-/1", "Unknown", "<none>", rows[aws][-1]]
    as_json = json.loads(run(orgs.alice_config, "get", "clusters", "-n", orgs.a, "-o", "json").output)
    assert sorted(i["kind"] for i in as_json["items"]) == ["AWSConfig", "KVMConfig"]

    described = run(orgs.alice_config, "describe", "cluster", kvm, "-n", orgs.a)
    assert described.exit_code == 0, described.output
    for expected in (
        f"KVMConfig/{orgs.a}/{kvm}",
        "WorkersReady",
        "worker-default-1 not Ready",
        "Pool/default",
        "1/2 ready, 2 up to date, v1.36.3",
        "Node/worker-default-1",
        "not readable with your permissions: CAConfig, CertConfigs, FlannelConfig, IngressConfig",  # the operators'
    ):
        assert expected in described.output, expected

    # scale: the pool's replicas; the organization's limit refuses more, in its own words
    scaled = run(orgs.alice_config, "scale", "cluster", kvm, "-n", orgs.a, "--workers=3")
    assert scaled.exit_code == 0, scaled.output
    assert orgs.admin.get(KVM_CONFIG, kvm, orgs.a)["spec"]["workerPools"][0]["replicas"] == 3
    refused = run(orgs.alice_config, "scale", "cluster", kvm, "-n", orgs.a, "--workers=4")
    expect(refused, 5, "workersPerCluster")
    no_pool = run(orgs.alice_config, "scale", "cluster", aws, "-n", orgs.a, "--workers=2", "--pool=gpu")
    expect(no_pool, 5, "its pools: default")
    assert run(orgs.alice_config, "scale", "cluster", aws, "-n", orgs.a, "--workers=3").exit_code == 0
    assert orgs.admin.get(AWS_CONFIG, aws, orgs.a)["spec"]["workerPools"][0] | {"instanceType": ""} == {
        "name": "default", "desired": 3, "minSize": 1, "maxSize": 3, "instanceType": "",
    }  # fmt: skip

    # upgrade: one minor at a time from what runs; the CRD's pattern is checked before the call
    assert run(orgs.alice_config, "upgrade", "cluster", kvm, "-n", orgs.a, "--to=1.37.0").exit_code == 0
    assert orgs.admin.get(KVM_CONFIG, kvm, orgs.a)["spec"]["kubernetesVersion"] == "1.37.0"
    skipped = run(orgs.alice_config, "upgrade", "cluster", kvm, "-n", orgs.a, "--to=1.38.0")
    expect(skipped, 5, "upgrade to 1.37.x first")
    malformed = run(orgs.alice_config, "upgrade", "cluster", kvm, "-n", orgs.a, "--to=v1.37")
    expect(malformed, 5, "not one the CRD accepts")
    upgrading = run(orgs.alice_config, "get", "clusters", "-n", orgs.a)
    assert "1.36.3→1.37.0" in upgrading.output


def test_another_organizations_clusters_are_forbidden_with_the_permission_named(orgs: Orgs) -> None:
    other = cluster_id()
    orgs.admin.create(KVM_CONFIG, {"metadata": {"name": other}, "spec": {"clusterID": other,
                      "kubernetesVersion": "1.36.3"}}, orgs.b)  # fmt: skip
    for args in (
        ("get", "clusters", "-n", orgs.b),
        ("describe", "cluster", other, "-n", orgs.b),
        ("scale", "cluster", other, "-n", orgs.b, "--workers=1"),
        ("create", "cluster", cluster_id(), "-n", orgs.b, "--version=1.36.3"),
    ):
        result = run(orgs.alice_config, *args)
        expect(result, 4, f"in namespace {orgs.b}", "kubeception:cluster-")
    everywhere = run(orgs.alice_config, "get", "clusters", "-A")
    assert everywhere.exit_code == 4
    assert "list kvmconfigs.kubeception.io in all namespaces" in everywhere.output
    admin_secret = run(orgs.alice_config, "kubeconfig", other, "-n", orgs.a)
    expect(admin_secret, 4, "get secrets")
    missing = run(orgs.alice_config, "describe", "cluster", "nope", "-n", orgs.a)
    assert missing.exit_code == 3, missing.output
    assert f"no KVMConfig or AWSConfig named 'nope' in namespace {orgs.a}" in missing.output
    assert "get clusters -A" in missing.output


def test_a_platform_admin_lists_every_organization_and_reads_the_admin_kubeconfig(orgs: Orgs) -> None:
    name = cluster_id()
    orgs.admin.create(KVM_CONFIG, {"metadata": {"name": name}, "spec": {"clusterID": name,
                      "kubernetesVersion": "1.36.3"}}, orgs.b)  # fmt: skip
    listed = run(orgs.admin_config, "get", "clusters", "-A")
    assert listed.exit_code == 0, listed.output
    row = next(line.split() for line in listed.output.splitlines() if f" {name} " in line)
    assert row[:3] == [orgs.b, orgs.name_b, name]  # the organization from the namespace's label

    orgs.admin.create(NAMESPACE, {"metadata": {"name": name}})
    try:
        orgs.admin.create(CERT_CONFIG, {
            "metadata": {"name": "apiserver", "labels": {"kubeception.io/cluster": name}},
            "spec": {"clusterID": name, "role": "apiserver", "commonName": "kube-apiserver"},
        }, name)  # fmt: skip
        described = run(orgs.admin_config, "describe", "cluster", name, "-n", orgs.b)
        assert described.exit_code == 0, described.output
        assert f"CertConfigs/{name}" in described.output
        assert "0/1 Ready" in described.output
        assert f"CertConfig/{name}/apiserver" in described.output
    finally:
        orgs.admin.delete(NAMESPACE, name)

    config = {"apiVersion": "v1", "kind": "Config", "clusters": [{"name": name, "cluster": {"server": "https://x"}}]}
    value = base64.b64encode(yaml.safe_dump(config).encode()).decode()
    orgs.admin.create(SECRET, {"metadata": {"name": f"{name}-kubeconfig"}, "data": {"value": value}}, orgs.b)
    printed = run(orgs.admin_config, "kubeconfig", name, "-n", orgs.b, "--server=https://10.0.0.1:443")
    assert printed.exit_code == 0, printed.output
    assert yaml.safe_load(printed.output)["clusters"][0]["cluster"]["server"] == "https://10.0.0.1:443"


def login(orgs: Orgs, *args: str, kubeconfig: Path | None = None) -> subprocess.Popen[str]:
    """``kubectl kubeception login`` as a person runs it: kubectl finds the plugin on PATH."""
    config = kubeconfig or orgs.alice_config
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "KUBECONFIG": str(config)}
    return subprocess.Popen(
        [str(find_binary("kubectl")), "kubeception", "login", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_login_writes_a_working_context_whose_key_never_left_the_machine(
    orgs: Orgs, control_plane: ControlPlane, tmp_path: Path
) -> None:
    name = cluster_id()
    orgs.admin.create(KVM_CONFIG, {"metadata": {"name": name}, "spec": {"clusterID": name,
                      "kubernetesVersion": "1.36.3"}}, orgs.a)  # fmt: skip
    # the guest's API, as the cluster's status says: this control plane stands in for it
    operator_status(orgs.admin, KVM_CONFIG, name, orgs.a, {"endpoint": control_plane.url, "conditions": ready("up")})
    out = tmp_path / "guest.kubeconfig"
    process = login(orgs, name, "-n", orgs.a, "--access=edit", "--ttl=2h", f"--kubeconfig-out={out}", "--timeout=60")

    request = pending_request(orgs, name)
    spec = request["spec"]
    assert (spec["user"], spec["access"], spec["ttl"]) == (orgs.alice, "edit", "2h")  # her identity, from admission
    issue(orgs, control_plane, request)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr + stdout
    assert f"context {name}-{orgs.alice} written to {out}" in stdout

    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    written = yaml.safe_load(out.read_text())
    assert written["current-context"] == f"{name}-{orgs.alice}"
    user = written["users"][0]["user"]
    key = serialization.load_pem_private_key(base64.b64decode(user["client-key-data"]), password=None)
    csr = x509.load_pem_x509_csr(spec["csr"].encode())
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert csr.public_key().public_bytes(*der) == key.public_key().public_bytes(*der)  # the CSR carried our key
    assert "PRIVATE KEY" not in json.dumps(orgs.admin.get(CREDENTIAL_REQUEST, request["metadata"]["name"], orgs.a))

    # the context works: the API server authenticates the certificate as her
    assert whoami(out) == orgs.alice

    # by default it merges into the mother's kubeconfig and keeps its current context (the mother's)
    mother = tmp_path / "mother.kubeconfig"
    mother.write_text(orgs.alice_config.read_text())
    before = yaml.safe_load(mother.read_text())
    process = login(orgs, name, "-n", orgs.a, kubeconfig=mother)
    issue(orgs, control_plane, pending_request(orgs, name))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    merged = yaml.safe_load(mother.read_text())
    assert [c["name"] for c in merged["contexts"]] == [c["name"] for c in before["contexts"]] + [f"{name}-{orgs.alice}"]
    assert merged["current-context"] == before["current-context"]
    assert stat.S_IMODE(mother.stat().st_mode) == 0o600


def test_a_refused_login_says_why_and_writes_nothing(orgs: Orgs, tmp_path: Path) -> None:
    name = cluster_id()
    orgs.admin.create(KVM_CONFIG, {"metadata": {"name": name}, "spec": {"clusterID": name,
                      "kubernetesVersion": "1.36.3"}}, orgs.a)  # fmt: skip
    operator_status(orgs.admin, KVM_CONFIG, name, orgs.a, {"endpoint": "https://api.x.example.test"})
    out = tmp_path / "guest.kubeconfig"
    process = login(orgs, name, "-n", orgs.a, f"--kubeconfig-out={out}")
    request = pending_request(orgs, name)
    message = f"guest {name} has no CA yet (CAConfig not Ready)"
    operator_status(orgs.admin, CREDENTIAL_REQUEST, request["metadata"]["name"], orgs.a, {"conditions": [
        {"type": "Issued", "status": "False", "reason": "CANotReady", "message": message, "lastTransitionTime": now()},
    ]})  # fmt: skip
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 6, stderr
    assert f"CANotReady: {message}" in stderr
    assert not out.exists()

    no_access = login(orgs, name, "-n", orgs.a, "--access=masters", f"--kubeconfig-out={out}")
    _, stderr = no_access.communicate(timeout=60)
    assert no_access.returncode == 5, stderr  # the organization's admission policy refuses, in its words
    assert "not masters" in stderr


def test_kubectl_completes_the_plugins_commands() -> None:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [str(find_binary("kubectl")), "__complete", "kubeception", "des"],
        env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert "describe" in result.stdout.splitlines(), result.stdout + result.stderr


def test_delete_asks_then_confirms_past_the_organizations_deletion_protection(orgs: Orgs) -> None:
    """A plain delete of an organization's cluster is refused with the command that confirms; the plugin asks,
    and a "no" deletes nothing; a "yes" confirms by name and deletes."""
    name = cluster_id()
    assert run(orgs.alice_config, "create", "cluster", name, "-n", orgs.a, "--version=1.36.3").exit_code == 0
    plain = subprocess.run(
        [str(find_binary("kubectl")), f"--kubeconfig={orgs.alice_config}", "delete", "kvmconfig", name, "-n", orgs.a],
        capture_output=True,
        text=True,
        check=False,
    )
    assert plain.returncode != 0, "deletion protection refuses a plain delete"
    assert "kubeception.io/confirm-delete" in plain.stderr, plain.stderr
    declined = CliRunner().invoke(
        cli, ["delete", "cluster", name, "-n", orgs.a, f"--kubeconfig={orgs.alice_config}"], input="n\n"
    )
    assert declined.exit_code != 0, declined.output
    assert orgs.admin.get_or_none(KVM_CONFIG, name, orgs.a) is not None
    deleted = CliRunner().invoke(
        cli, ["delete", "cluster", name, "-n", orgs.a, f"--kubeconfig={orgs.alice_config}"], input="y\n"
    )
    assert deleted.exit_code == 0, deleted.output
    assert orgs.admin.get_or_none(KVM_CONFIG, name, orgs.a) is None
