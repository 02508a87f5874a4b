"""Fixtures: aws-operator in-process with a real cert-operator (real OpenBao) on the local control plane, against
moto's server (the AWS API on loopback). Each test's clusters live in AWS accounts of their own (moto keeps one
backend per account, and a role ARN names the account), so tests sharing the moto server never see each other's
stacks — and checks like "nothing left in the account" are exact."""

from __future__ import annotations

import base64
import random
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from aws_operator.controller import aws_controller
from aws_operator.settings import AWSSettings
from aws_operator.shared import Shared
from aws_operator.spec import AWS_CONFIG
from kubeception_testenv import wait_for
from operatorkit import get_condition
from operatorkit.kinds import SECRET
from operatorkit.testing import apply_crds, condition_of, in_process_settings, status_of
from tests.cert.conftest import bao, cert_crds, start_cert_operator
from tests.ingress.conftest import ingress_crd
from tests.kvm.conftest import kvm_crds

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from kubeception_testenv import MotoServer
    from operatorkit import KubeClient, Object, Operator
    from operatorkit.testing import OperatorRunner

CRDS = Path(__file__).parents[2] / "crds"
__all__ = ["bao", "cert_crds", "ingress_crd", "kvm_crds", "start_cert_operator"]
REGION = "eu-west-1"
AMI = "ami-12c6146b"  # one of moto's images
AMIS = {"1.36.3": {REGION: AMI}, "1.36.4": {REGION: AMI}}


@pytest.fixture(scope="session")
def aws_crds(kube: KubeClient) -> None:
    apply_crds(kube, CRDS / "awsconfigs.kubeception.io.yaml", CRDS / "domainclaims.kubeception.io.yaml")


@pytest.fixture
def account() -> str:
    """A fresh AWS account id for this test's clusters."""
    return str(random.randrange(10**11, 10**12))


class Guest:
    """boto3 clients into one account of the moto server, as the guest's own administrators would see it."""

    def __init__(self, url: str, account: str) -> None:
        sts = boto3.client(
            "sts", endpoint_url=url, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        credentials = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/admin", RoleSessionName="test", DurationSeconds=3600
        )["Credentials"]
        self.session = boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=REGION,
        )
        self.url = url

    def client(self, service: str) -> Any:
        session: Any = self.session
        return session.client(service, endpoint_url=self.url)

    def live_stacks(self) -> list[dict[str, Any]]:
        summaries = self.client("cloudformation").list_stacks()["StackSummaries"]
        return [s for s in summaries if s["StackStatus"] != "DELETE_COMPLETE"]

    def leftovers(self) -> dict[str, list[str]]:
        """Everything kubeception could have made in the account, by kind (empty lists: nothing left)."""
        ec2, kms = self.client("ec2"), self.client("kms")
        autoscaling, elb = self.client("autoscaling"), self.client("elb")
        roles = self.client("iam").list_roles()["Roles"]
        aliases = kms.list_aliases()["Aliases"]
        managed = {a.get("TargetKeyId") for a in aliases if a["AliasName"].startswith("alias/aws/")}
        live_keys = [
            k["KeyId"]
            for k in kms.list_keys()["Keys"]
            if k["KeyId"] not in managed  # AWS's own (aws/ebs: encrypted volumes)
            if (meta := kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"])["KeyState"] != "PendingDeletion"
            and meta["KeyManager"] == "CUSTOMER"
        ]
        return {
            "stacks": [s["StackName"] for s in self.live_stacks()],
            "buckets": [b["Name"] for b in self.client("s3").list_buckets()["Buckets"]],
            "keys": live_keys,
            "aliases": [a["AliasName"] for a in aliases if "kubeception" in a["AliasName"]],
            "vpcs": [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")],
            "instances": [
                i["InstanceId"]
                for r in ec2.describe_instances()["Reservations"]
                for i in r["Instances"]
                if i["State"]["Name"] != "terminated"
            ],
            "groups": [
                g["AutoScalingGroupName"] for g in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
            ],
            "load balancers": [
                lb["LoadBalancerName"] for lb in elb.describe_load_balancers()["LoadBalancerDescriptions"]
            ],
            "roles": [r["RoleName"] for r in roles if r["Path"].startswith("/kubeception/")],
            "zones": [z["Name"] for z in self.client("route53").list_hosted_zones()["HostedZones"]],
            "addresses": [a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]],
            "NAT gateways": [
                n["NatGatewayId"] for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] != "deleted"
            ],
        }


@pytest.fixture
def guest(moto_server: MotoServer, account: str) -> Guest:
    return Guest(moto_server.url, account)


def cfn_lint(*templates: Path) -> subprocess.CompletedProcess[str]:
    """cfn-lint on templates, in one run (loading its specifications takes most of its time). W3010 (hard-coded
    zones): the zones are the user's choice. W3687 (protocol -1 ports): see ``aws_operator.templates.guest._rule``."""
    ignored = ("--ignore-checks", "W3010", "W3687")
    command = [str(Path(sys.executable).parent / "cfn-lint"), *ignored, "--", *map(str, templates)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def settings(url: str, **overrides: Any) -> AWSSettings:
    values: dict[str, Any] = {
        "aws": {"endpoint_url": url},
        "images": {"amis": AMIS},
        "stacks": {"poll_seconds": 0.5, "drift_check_seconds": 3600},
        "reconcile": {"backoff_base": 0.1, "backoff_cap": 2},
    }
    found = in_process_settings(AWSSettings, **(values | overrides))
    assert isinstance(found, AWSSettings)
    return found


@pytest.fixture
def start_aws(
    operator_runner: OperatorRunner,
    start_cert_operator: Callable[..., Operator],
    aws_crds: None,
    kube: KubeClient,
    moto_server: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., Operator]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")  # the operator's own credentials (a pod's from its Secret)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    cert_started: list[bool] = []

    def start(url: str | None = None, **overrides: Any) -> Operator:
        if not cert_started:
            start_cert_operator(namespace=None)  # the PKI lives in each cluster's own namespace
            cert_started.append(True)
        found = settings(url or moto_server.url, **overrides)
        return operator_runner.start("aws-operator", [aws_controller(Shared(found))], settings=found)

    yield start
    for config in kube.list(AWS_CONFIG)["items"]:
        kube.delete(AWS_CONFIG, config["metadata"]["name"], config["metadata"]["namespace"])
    wait_for(lambda: not kube.list(AWS_CONFIG)["items"], timeout=120, message="AWSConfigs gone")


def credentials(kube: KubeClient, namespace: str, role_arn: str, name: str = "aws") -> None:
    kube.create(
        SECRET,
        {
            "metadata": {"name": name, "namespace": namespace},
            "data": {"roleARN": base64.b64encode(role_arn.encode()).decode()},
        },
    )


def aws_config(name: str, namespace: str, version: str = "1.36.3", **spec: Any) -> Object:
    return {
        "apiVersion": AWS_CONFIG.api_version,
        "kind": AWS_CONFIG.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "clusterID": name,
            "region": REGION,
            "availabilityZones": [f"{REGION}a", f"{REGION}b"],
            "kubernetesVersion": version,
            "credentials": {"secretName": "aws"},
            **spec,
        },
    }


def status(kube: KubeClient, name: str, namespace: str) -> dict[str, Any]:
    return status_of(kube, AWS_CONFIG, name, namespace)


def condition(kube: KubeClient, name: str, namespace: str, type_: str) -> dict[str, Any]:
    return condition_of(kube, AWS_CONFIG, name, namespace, type_=type_) or {}


def wait_ready(kube: KubeClient, name: str, namespace: str, timeout: float = 120) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        found = status(kube, name, namespace)
        cond = get_condition(found, "Ready") or {}
        return (
            found
            if cond.get("status") == "True"
            and found.get("observedGeneration") == kube.get(AWS_CONFIG, name, namespace)["metadata"]["generation"]
            else None
        )

    found: dict[str, Any] = wait_for(ready, timeout=timeout, message=f"{name} Ready")
    return found
