"""The kubectl plugin's pure parts: the clusters table, the describe tree, the manifests and patches it makes, the
kubeconfig it merges, the key and CSR of `login`. No server (tests/plugin/test_plugin.py has them)."""

from __future__ import annotations

import datetime
import re
import stat
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kubectl_kubeception import clusters, kubeconfigs, login, manifests, tree
from kubectl_kubeception.mother import Invalid, Refused

NOW = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)


def ago(**delta: float) -> str:
    return (NOW - datetime.timedelta(**delta)).isoformat().replace("+00:00", "Z")


def cond(kind: str, status: str, reason: str = "Ready", message: str = "", **since: float) -> dict[str, str]:
    when = ago(**since) if since else ago(minutes=3)
    return {"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": when}


def kvm(name: str = "demo", namespace: str = "org-blue", **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kubeception.io/v1alpha1",
        "kind": "KVMConfig",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": ago(hours=5), "resourceVersion": "7"},
        "spec": {"clusterID": name, "kubernetesVersion": "1.36.3", "workerPools": [{"name": "default", "replicas": 2}]},
        "status": status,
    }


def aws(name: str = "web", namespace: str = "org-red") -> dict[str, Any]:
    return {
        "apiVersion": "kubeception.io/v1alpha1",
        "kind": "AWSConfig",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": ago(seconds=40),
            "resourceVersion": "9",
        },
        "spec": {
            "clusterID": name,
            "kubernetesVersion": "1.36.1",
            "region": "eu-west-1",
            "workerPools": [{"name": "a", "desired": 2, "maxSize": 3}, {"name": "b"}],
        },
    }


READY_KVM = kvm(
    kubernetesVersion="1.36.1",
    workers="2/2",
    endpoint="https://api.demo:443",
    controlPlaneReady="1/1",
    conditions=[cond("Ready", "True", message="Kubernetes 1.36.1 at https://api.demo:443")],
)


def test_the_table_shows_both_kinds_with_their_organization_and_what_is_not_known_yet() -> None:
    rows = [clusters.summarize(READY_KVM), clusters.summarize(aws())]
    text = clusters.table(rows, {"org-blue": "blue"}, NOW, all_namespaces=True)
    assert text.splitlines() == [
        "NAMESPACE   ORGANIZATION   NAME   KIND        VERSION         WORKERS   READY     ENDPOINT               AGE",
        "org-blue    blue           demo   KVMConfig   1.36.1→1.36.3   2/2       True      https://api.demo:443   5h",
        "org-red     <none>         web    AWSConfig   1.36.1          -/3       Unknown   <none>                 40s",
    ]


def test_the_wide_table_adds_cluster_id_control_plane_region_and_reason() -> None:
    text = clusters.table([clusters.summarize(READY_KVM), clusters.summarize(aws())], {}, NOW, wide=True)
    header, first, second = text.splitlines()
    assert header.split()[-6:] == ["CLUSTER", "ID", "CONTROL", "PLANE", "REGION", "REASON"]
    assert first.split()[-4:] == ["demo", "1/1", "<none>", "Ready"]
    assert second.split()[-4:] == ["web", "<none>", "eu-west-1", "<none>"]
    assert not header.startswith("NAMESPACE")


@pytest.mark.parametrize(
    ("delta", "shown"),
    [
        (datetime.timedelta(seconds=5), "5s"),
        (datetime.timedelta(seconds=119), "119s"),
        (datetime.timedelta(minutes=59), "59m"),
        (datetime.timedelta(hours=3), "3h"),
        (datetime.timedelta(days=3, hours=5), "3d"),
        (datetime.timedelta(days=800), "2y"),
    ],
)
def test_ages_read_like_kubectls(delta: datetime.timedelta, shown: str) -> None:
    assert clusters.age(NOW - delta, NOW) == shown


def test_the_tree_shows_conditions_children_pools_nodes_and_addons() -> None:
    obj = kvm(
        kubernetesVersion="1.36.3",
        versionRefused="Kubernetes 1.37.0 is not supported here (supported: 1.36.1, 1.36.3)",
        conditions=[
            cond("Ready", "False", "Waiting", "waiting for WorkersReady", minutes=2),
            cond("ControlPlaneAvailable", "True", "Available", "etcd 1/1, apiserver 1/1"),
            cond("AddonsReady", "True", "Applied", "kube-proxy 2/2, coredns 2/2"),
        ],
        workerPools=[
            {
                "name": "default",
                "desired": 2,
                "ready": 1,
                "upToDate": 1,
                "version": "1.36.3",
                "nodes": [
                    {
                        "name": "worker-default-0",
                        "ready": True,
                        "version": "1.36.3",
                        "accelerator": "kvm",
                        "upToDate": True,
                    },
                    {"name": "worker-default-1", "ready": False, "version": "1.36.1", "accelerator": "tcg"},
                ],
            }
        ],
    )
    obj["spec"]["addons"] = {"coreDNS": {"enabled": False}}
    certificates = [
        {"kind": "CertConfig", "metadata": {"name": n, "namespace": "demo"}, "status": {"conditions": [c]}}
        for n, c in (("admin", cond("Ready", "True")), ("apiserver", cond("Ready", "False", "Issuing", "vault: 503")))
    ]
    network = {"kind": "FlannelConfig", "metadata": {"name": "demo"}, "status": {"conditions": [cond("Ready", "True")]}}
    root = tree.build(obj, ca=[], certificates=certificates, network=network, ingress=None)
    assert tree.render(root, NOW).splitlines() == [
        "NAME                            READY   REASON           SINCE   MESSAGE",
        "KVMConfig/org-blue/demo         False   Waiting          2m      waiting for WorkersReady",
        "├─Conditions",
        "│ ├─ControlPlaneAvailable       True    Available        3m      etcd 1/1, apiserver 1/1",
        "│ └─AddonsReady                 True    Applied          3m      kube-proxy 2/2, coredns 2/2",
        "├─Version                       False   VersionRefused           "
        "Kubernetes 1.37.0 is not supported here (supported: 1.36.1, 1.36.3)",
        "├─CertConfigs/demo              False                            1/2 Ready",
        "│ └─CertConfig/demo/apiserver   False   Issuing          3m      vault: 503",
        "├─FlannelConfig/demo            True    Ready            3m",
        "├─Pool/default                  False                            1/2 ready, 1 up to date, v1.36.3",
        "│ ├─Node/worker-default-0       True                             v1.36.3 kvm",
        "│ └─Node/worker-default-1       False                            v1.36.1 tcg to roll",
        "└─Addons                        True    Applied          3m      kubeProxy: kube-proxy 2/2, coredns 2/2",
    ]


def test_the_tree_says_what_the_caller_may_not_read_and_what_is_not_reported_yet() -> None:
    root = tree.build(aws(), ca=None, certificates=None, network=None, ingress=None)
    text = tree.render(root, NOW)
    assert "AWSConfig/org-red/web   Unknown   NoStatus" in text
    assert re.search(r"├─Children/web +\? ", text)
    assert "not readable with your permissions: CAConfig, CertConfigs (the cluster's conditions" in text
    assert "Pool/a" in text
    assert "0/2 ready: not reported yet" in text
    assert "Addons" not in text  # AWS guests report none


def test_create_manifests_carry_the_flags() -> None:
    made = manifests.kvm_config(
        "demo", "org-blue", version="1.36.3", workers=3, pool="big", cpus=4, memory="4Gi", replicas=3
    )
    assert made["metadata"] == {"name": "demo", "namespace": "org-blue"}
    assert made["spec"] == {
        "clusterID": "demo",
        "kubernetesVersion": "1.36.3",
        "controlPlane": {"replicas": 3},
        "workerPools": [{"name": "big", "replicas": 3, "cpus": 4, "memory": "4Gi"}],
    }
    made = manifests.aws_config(
        "web", "org-red", version="1.36.3", workers=0, pool="default", replicas=1, region="eu-west-1", zones=(),
        credentials="acct", instance_type=None,
    )  # fmt: skip
    assert made["spec"]["availabilityZones"] == ["eu-west-1a"]
    assert made["spec"]["workerPools"] == [{"name": "default", "desired": 0, "minSize": 0, "maxSize": 0}]


def test_scaling_patches_one_pool_and_keeps_the_others_and_the_version_read() -> None:
    patch, said = manifests.scaled(aws(), 5, "a")
    assert patch == {
        "metadata": {"resourceVersion": "9"},
        "spec": {"workerPools": [{"name": "a", "desired": 5, "maxSize": 5}, {"name": "b"}]},
    }
    assert said == "pool a: desired 2 → 5 (maxSize raised to 5)"
    patch, said = manifests.scaled(kvm(), 0, None)
    assert patch["spec"]["workerPools"] == [{"name": "default", "replicas": 0}]
    with pytest.raises(Invalid, match=r"name the pool with --pool: this cluster has \['a', 'b'\]"):
        manifests.scaled(aws(), 1, None)
    with pytest.raises(Invalid, match="no pool 'c' in this cluster; its pools: a, b"):
        manifests.scaled(aws(), 1, "c")


@pytest.mark.parametrize(
    ("running", "wanted", "problem"),
    [
        ("1.36.3", "1.36.1", None),  # patches move either way
        ("1.36.3", "1.37.0", None),
        ("1.36.3", "1.38.0", "skips a minor version: upgrade to 1.37.x first"),
        ("1.36.3", "1.35.9", "is a minor downgrade"),
        (None, "1.40.0", None),
    ],
)
def test_the_skew_rules_kvm_operator_enforces(running: str | None, wanted: str, problem: str | None) -> None:
    found = manifests.skew_problem(running, wanted)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_an_upgrade_the_crd_or_the_skew_rules_refuse_is_refused_before_the_call() -> None:
    with pytest.raises(Invalid, match="not one the CRD accepts"):
        manifests.upgraded(kvm(), "v1.37")
    with pytest.raises(Invalid, match="skips a minor"):
        manifests.upgraded(kvm(kubernetesVersion="1.36.3"), "1.38.0")
    patch, said = manifests.upgraded(kvm(kubernetesVersion="1.36.3"), "1.37.0")
    assert patch == {"metadata": {"resourceVersion": "7"}, "spec": {"kubernetesVersion": "1.37.0"}}
    assert said == "1.36.3 → 1.37.0"


def test_a_context_is_merged_like_kubectl_config_does(tmp_path, monkeypatch) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_text(
        yaml.safe_dump(
            {
                "current-context": "mother",
                "contexts": [{"name": "mother", "context": {"cluster": "m", "user": "u", "namespace": "org-blue"}}],
                "clusters": [{"name": "m", "cluster": {"server": "https://mother"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
            }
        )
    )
    second.write_text(yaml.safe_dump({"contexts": [{"name": "other", "context": {"cluster": "m"}}]}))
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    assert kubeconfigs.paths(None) == [first, second]
    assert kubeconfigs.namespace_of(None, None) == "org-blue"
    assert kubeconfigs.namespace_of(None, "other") == "default"

    config = kubeconfigs.load(first)
    merged = kubeconfigs.with_context(
        config, name="demo-alice", cluster={"server": "s1"}, user={"token": "x"}, switch=False
    )
    again = kubeconfigs.with_context(
        merged, name="demo-alice", cluster={"server": "s2"}, user={"token": "y"}, switch=True
    )
    kubeconfigs.write(first, again)
    written = yaml.safe_load(first.read_text())
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    assert [c["name"] for c in written["contexts"]] == ["mother", "demo-alice"]
    assert [c["cluster"]["server"] for c in written["clusters"]] == ["https://mother", "s2"]
    assert written["current-context"] == "demo-alice"
    assert merged["current-context"] == "mother"  # merged without --switch: the mother stays current
    fresh = kubeconfigs.with_context({}, name="demo-alice", cluster={}, user={}, switch=False)
    assert fresh["current-context"] == "demo-alice"  # a new file's only context is its current one


def test_the_csr_carries_the_local_key_and_the_certificate_must_be_for_it() -> None:
    key = login.new_key("ec")
    csr = x509.load_pem_x509_csr(login.csr_pem(key, "alice").encode())
    assert csr.is_signature_valid
    assert login.public_der(csr.public_key()) == login.public_der(key.public_key())
    assert isinstance(login.new_key("rsa").public_key().public_numbers().n, int)

    other = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "alice")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(other.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + datetime.timedelta(hours=1))
        .sign(other, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    issued = login.Issued(name="demo-alice-x", certificate=pem, ca=pem, serial="01", not_after="")
    with pytest.raises(Refused, match="not for the key this login made"):
        login.check_for_key(issued, key)


def test_the_outcome_of_a_request_is_pending_issued_or_the_issuers_refusal() -> None:
    def request(*conditions: dict[str, str], **status: str) -> dict[str, Any]:
        return {
            "metadata": {"name": "r", "namespace": "org-blue"},
            "status": {"conditions": list(conditions), **status},
        }

    assert login.outcome(request()) is None
    assert login.outcome(request(cond("Issued", "True"))) is None  # the certificate not written yet
    issued = login.outcome(request(cond("Issued", "True"), certificate="C", ca="A", serialNumber="1f", notAfter="T"))
    assert issued == login.Issued(name="r", certificate="C", ca="A", serial="1f", not_after="T")
    refused = cond("Issued", "False", "ClusterNotFound", "no cluster demo in org-blue")
    with pytest.raises(Refused, match="org-blue/r: ClusterNotFound: no cluster demo in org-blue"):
        login.outcome(request(refused))
    assert (
        login.request_name("demo", "system:serviceaccount:org-blue:ci") == "demo-system-serviceaccoun-"
    )  # 20 characters of the name


def offline(tmp_path, *args: str, stdin: str = "") -> Any:
    """The plugin in-process with a kubeconfig whose server is never contacted (``--dry-run=client``, usage errors)."""
    from click.testing import CliRunner

    from kubectl_kubeception.cli import cli

    config = tmp_path / "kubeconfig"
    config.write_text(
        yaml.safe_dump(
            {
                "current-context": "m",
                "contexts": [{"name": "m", "context": {"cluster": "m", "user": "u", "namespace": "org-blue"}}],
                "clusters": [{"name": "m", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "unused"}}],
            }
        )
    )
    return CliRunner().invoke(cli, [*args, f"--kubeconfig={config}"], input=stdin, catch_exceptions=False)


def test_create_from_a_file_takes_the_name_and_the_contexts_namespace(tmp_path) -> None:
    template = yaml.safe_dump(
        {"kind": "KVMConfig", "metadata": {"name": "old", "namespace": "elsewhere"}, "spec": {"clusterID": "old",
         "kubernetesVersion": "1.36.1", "workerPools": [{"name": "gpu", "replicas": 2}]}}
    )  # fmt: skip
    result = offline(tmp_path, "create", "cluster", "demo", "-f", "-", "--version=1.36.3", "--dry-run=client",
                     "-o", "yaml", stdin=template)  # fmt: skip
    assert result.exit_code == 0, result.output
    made = yaml.safe_load(result.output)
    assert made["apiVersion"] == "kubeception.io/v1alpha1"
    assert made["metadata"] == {"name": "demo", "namespace": "org-blue"}
    assert made["spec"] == {
        "clusterID": "demo",
        "kubernetesVersion": "1.36.3",
        "workerPools": [{"name": "gpu", "replicas": 2}],
    }


def test_usage_errors_say_what_is_missing(tmp_path) -> None:
    no_version = offline(tmp_path, "create", "cluster", "demo", "--dry-run=client")
    assert no_version.exit_code == 2
    assert "--version is required" in no_version.output
    bad_name = offline(tmp_path, "create", "cluster", "Demo_1", "--version=1.36.3", "--dry-run=client")
    assert bad_name.exit_code == 2
    assert "it is the cluster id" in bad_name.output
    not_a_cluster = offline(tmp_path, "create", "cluster", "demo", "-f", "-", "--dry-run=client", stdin="kind: Pod\n")
    assert not_a_cluster.exit_code == 5
    assert "not a KVMConfig or AWSConfig (kind 'Pod')" in not_a_cluster.output


def test_the_plugin_reads_timestamps_as_the_operators_do():
    """``get clusters`` reads the API server's times with operatorkit's reader: a time stored without an offset
    (an earlier writer) is UTC, not a naive time that the age column could not subtract from now."""
    now = datetime.datetime(2026, 12, 7, 2, 0, tzinfo=datetime.UTC)
    for text in ("2026-12-07T01:54:00Z", "2026-12-07T01:54:00+00:00", "2026-12-07T01:54:00"):
        assert clusters.age(clusters.parse_time(text), now) == "6m", text
    assert clusters.parse_time(None) is None
    assert clusters.parse_time("") is None
