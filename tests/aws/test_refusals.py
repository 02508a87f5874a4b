"""What an AWSConfig is refused, and how: a readable condition, nothing half-made left in any account, and
nobody else's state touched."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from aws_operator import key
from aws_operator.shared import CERT_CONFIG
from aws_operator.spec import AWS_CONFIG
from kubeception_testenv import MotoServer, wait_for
from operatorkit import ApiError, is_true
from operatorkit.kinds import NAMESPACE
from tests.aws.conftest import REGION, Guest, aws_config, condition, credentials, status, wait_ready
from tests.conftest import throwaway_namespace

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import hvac

    from operatorkit import KubeClient, Operator

pytestmark = pytest.mark.slow


def reason(kube: KubeClient, name: str, namespace: str, type_: str = "Ready") -> str:
    return str(condition(kube, name, namespace, type_).get("reason", ""))


def test_template_error_leaves_no_stack(
    kube: KubeClient, namespace: str, account: str, guest: Guest, start_aws: Callable[..., Operator]
) -> None:
    """A hosted zone that does not exist: CloudFormation's error in the condition, the stack deleted."""
    credentials(kube, namespace, f"arn:aws:iam::{account}:role/kubeception")
    start_aws()
    kube.create(AWS_CONFIG, aws_config("zoneless", namespace, dns={"hostedZoneID": "Z0000MISSING"}))
    wait_for(lambda: reason(kube, "zoneless", namespace) == "CreateFailed", timeout=90, message="CreateFailed")
    message = condition(kube, "zoneless", namespace, "Ready")["message"]
    assert "NoSuchHostedZone" in message
    assert "nothing is left behind" in message
    assert guest.live_stacks() == []
    assert status(kube, "zoneless", namespace)["failedTemplate"]
    kube.delete(AWS_CONFIG, "zoneless", namespace)
    wait_for(lambda: kube.get_or_none(AWS_CONFIG, "zoneless", namespace) is None, timeout=90, message="deleted")
    left = guest.leftovers()
    assert left == {k: [] for k in left}


def test_credentials_refused(
    kube: KubeClient, namespace: str, start_aws: Callable[..., Operator], tmp_path: Path
) -> None:
    """No Secret, a Secret without a role ARN, and a role the operator may not assume (moto checking IAM, as AWS
    does): each a CredentialsValid condition naming the cause, and nothing made in AWS."""
    with MotoServer(tmp_path / "moto-iam", unauthenticated_calls=3) as strict:
        iam = boto3.client("iam", endpoint_url=strict.url, region_name=REGION)
        iam.create_user(UserName="aws-operator")
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/kubeception-guest"}
            ],
        }
        iam.put_user_policy(UserName="aws-operator", PolicyName="assume", PolicyDocument=json.dumps(policy))
        access = iam.create_access_key(UserName="aws-operator")["AccessKey"]
        with pytest.MonkeyPatch.context() as env:
            env.setenv("AWS_ACCESS_KEY_ID", access["AccessKeyId"])
            env.setenv("AWS_SECRET_ACCESS_KEY", access["SecretAccessKey"])
            start_aws(url=strict.url)
            kube.create(AWS_CONFIG, aws_config("nosecret", namespace))
            wait_for(lambda: reason(kube, "nosecret", namespace) == "SecretNotFound", timeout=60, message="refused")
            credentials(kube, namespace, "not-an-arn")
            wait_for(lambda: reason(kube, "nosecret", namespace) == "InvalidRoleARN", timeout=60, message="refused")
            kube.delete(AWS_CONFIG, "nosecret", namespace)

            credentials(kube, namespace, "arn:aws:iam::222233334444:role/someone-elses", name="foreign")
            kube.create(AWS_CONFIG, aws_config("foreign", namespace, credentials={"secretName": "foreign"}))
            wait_for(lambda: reason(kube, "foreign", namespace) == "AssumeRoleFailed", timeout=60, message="refused")
            message = condition(kube, "foreign", namespace, "CredentialsValid")["message"]
            assert "AccessDenied" in message
            assert "someone-elses" in message
            assert not status(kube, "foreign", namespace).get("stacks")
            kube.delete(AWS_CONFIG, "foreign", namespace)
            wait_for(lambda: not kube.list(AWS_CONFIG, namespace)["items"], timeout=60, message="deleted")


def test_cluster_id_and_stack_of_another_owner(
    kube: KubeClient,
    namespace: str,
    account: str,
    guest: Guest,
    start_aws: Callable[..., Operator],
) -> None:
    """A stack of the cluster's name that kubeception did not make is neither changed nor deleted; a second
    AWSConfig with a taken cluster id (in another tenant's namespace) is refused, naming the first."""
    credentials(kube, namespace, f"arn:aws:iam::{account}:role/kubeception")
    cfn = guest.client("cloudformation")
    squatter = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}}}
    cfn.create_stack(StackName=key.stack("taken"), TemplateBody=json.dumps(squatter))
    start_aws()
    kube.create(AWS_CONFIG, aws_config("taken", namespace))
    wait_for(lambda: reason(kube, "taken", namespace) == "NotOwned", timeout=90, message="NotOwned")
    message = condition(kube, "taken", namespace, "Ready")["message"]
    assert "CloudFormation stack kubeception-taken" in message
    assert "not created by kubeception" in message
    kube.delete(AWS_CONFIG, "taken", namespace)
    wait_for(lambda: kube.get_or_none(AWS_CONFIG, "taken", namespace) is None, timeout=90, message="deleted")
    stacks = guest.live_stacks()
    assert [s["StackName"] for s in stacks] == ["kubeception-taken"]  # still there, untouched
    assert stacks[0]["StackStatus"] == "CREATE_COMPLETE"


def test_cluster_id_taken_in_another_namespace(
    kube: KubeClient, namespace: str, account: str, guest: Guest, start_aws: Callable[..., Operator]
) -> None:
    """The second AWSConfig of a cluster id is refused naming the first; it made nothing, so its deletion waits for
    nothing (not for the first's stack, bucket, key or PKI of the same names) and goes within seconds."""
    credentials(kube, namespace, f"arn:aws:iam::{account}:role/kubeception")
    start_aws()
    kube.create(AWS_CONFIG, aws_config("dupe", namespace))
    wait_ready(kube, "dupe", namespace)
    before = guest.leftovers()
    with throwaway_namespace(kube) as other:
        credentials(kube, other, f"arn:aws:iam::{account}:role/kubeception")
        kube.create(AWS_CONFIG, aws_config("dupe", other))
        wait_for(lambda: reason(kube, "dupe", other) == "NotOwned", timeout=60, message="second refused")
        assert f"AWSConfig {namespace}/dupe" in condition(kube, "dupe", other, "Ready")["message"]
        assert not status(kube, "dupe", other).get("made")
        kube.delete(AWS_CONFIG, "dupe", other)
        wait_for(lambda: kube.get_or_none(AWS_CONFIG, "dupe", other) is None, timeout=10, message="second gone")
    assert condition(kube, "dupe", namespace, "Ready")["status"] == "True"  # the first is untouched
    assert guest.leftovers() == before
    assert kube.get(NAMESPACE, "dupe")["metadata"].get("deletionTimestamp") is None


def test_an_impossible_region_makes_nothing_and_is_deleted_at_once(
    kube: KubeClient, namespace: str, account: str, guest: Guest, bao: hvac.Client, start_aws: Callable[..., Operator]
) -> None:
    """A region that does not exist passes the CRD's pattern, and moto's STS assumes the role in it; every other
    call there fails. The failing call is the condition; nothing was made (``status.made`` is empty), so deletion
    makes no AWS call and takes the namespace, the CA mount and the certificates with it within seconds."""
    credentials(kube, namespace, f"arn:aws:iam::{account}:role/kubeception")
    start_aws()
    nowhere = "xx-nowhere-9"
    kube.create(AWS_CONFIG, aws_config("nowhere", namespace, region=nowhere, availabilityZones=[f"{nowhere}a"]))
    wait_for(
        lambda: "kms:DescribeKey" in condition(kube, "nowhere", namespace, "Ready").get("message", ""),
        timeout=90,
        message="the failing call in Ready",
    )
    wait_for(
        lambda: (
            len([c for c in kube.list(CERT_CONFIG, "nowhere")["items"] if is_true(c.get("status"), "Ready")])
            == len(key.CERTIFICATES)
        ),
        timeout=90,
        message="the cluster's certificates issued",
    )
    assert "pki-nowhere/" in bao.sys.list_mounted_secrets_engines()["data"]
    assert not status(kube, "nowhere", namespace).get("made")
    began = time.monotonic()
    kube.delete(AWS_CONFIG, "nowhere", namespace)
    wait_for(
        lambda: kube.get_or_none(AWS_CONFIG, "nowhere", namespace) is None,
        timeout=30,
        message="deleted within seconds, no AWS call retried",
    )
    print(f"\nan AWSConfig in an impossible region deleted in {time.monotonic() - began:.1f} s")
    assert kube.get_or_none(NAMESPACE, "nowhere") is None
    assert "pki-nowhere/" not in bao.sys.list_mounted_secrets_engines()["data"]
    left = guest.leftovers()
    assert left == {k: [] for k in left}


def test_an_account_serves_the_clusters_of_one_namespace(
    kube: KubeClient, namespace: str, account: str, guest: Guest, start_aws: Callable[..., Operator]
) -> None:
    """Another tenant's Secret naming a role in this tenant's account (which a trust policy without the ExternalId
    condition would let it assume; moto checks no trust policy at all) is refused before any call, naming the
    AWSConfig that uses the account. Nothing is made in the account for it; the first cluster stays Ready; a second
    cluster of the first tenant may use the account."""
    credentials(kube, namespace, f"arn:aws:iam::{account}:role/kubeception")
    start_aws()
    kube.create(AWS_CONFIG, aws_config("first", namespace))
    wait_ready(kube, "first", namespace)

    def made() -> dict[str, list[str]]:
        left = guest.leftovers()
        return {k: left[k] for k in ("stacks", "buckets", "keys", "aliases", "vpcs", "roles")}

    before = made()
    with throwaway_namespace(kube) as other:
        credentials(kube, other, f"arn:aws:iam::{account}:role/kubeception")
        kube.create(AWS_CONFIG, aws_config("intruder", other))
        wait_for(lambda: reason(kube, "intruder", other) == "AccountInUse", timeout=60, message="refused")
        message = condition(kube, "intruder", other, "CredentialsValid")["message"]
        assert f"account {account} is used by AWSConfig {namespace}/first" in message
        assert "roleARN" not in status(kube, "intruder", other), "no role assumed"
        assert made() == before, "nothing made in the first tenant's account"
        kube.delete(AWS_CONFIG, "intruder", other)
        wait_for(lambda: kube.get_or_none(AWS_CONFIG, "intruder", other) is None, timeout=60, message="gone")
    assert made() == before
    assert condition(kube, "first", namespace, "Ready")["status"] == "True"
    kube.create(AWS_CONFIG, aws_config("second", namespace))
    wait_ready(kube, "second", namespace)
    assert status(kube, "second", namespace)["account"] == account


def test_invalid_specs_are_refused_at_admission(kube: KubeClient, namespace: str, aws_crds: None) -> None:
    bad: list[dict[str, Any]] = [
        {"availabilityZones": ["us-east-1a"]},  # not in the region
        {"clusterID": "x-workers"},
        {"workerPools": [{"name": "p", "minSize": 3, "desired": 1}]},
        {"workerPools": [{"name": "p", "labels": {"kubernetes.io/role": "x"}}]},
        {"vpcCIDR": "10.0.0.0/8x"},
        {"masters": {"replicas": 2}},
        {"credentials": {"secretName": "A_B"}},
    ]
    for i, patch in enumerate(bad):
        name = str(patch.get("clusterID", f"bad{i}"))
        with pytest.raises(ApiError) as refused:
            kube.create(AWS_CONFIG, aws_config(name, namespace, **{k: v for k, v in patch.items() if k != "clusterID"}))
        assert refused.value.status in {400, 422}, patch
