"""An AWS guest cluster's life on moto's server: created, scaled, a pool's instances replaced after the change
set showed it, masters replaced only after approval, deleted — and nothing left in the account."""

from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING, Any

import pytest

from aws_operator import envelope, key
from aws_operator.aws import AWSError
from aws_operator.resources.certificate_objects import encryption_context
from aws_operator.spec import AWS_CONFIG
from kubeception_testenv import wait_for
from operatorkit import Owner
from operatorkit.kinds import EVENT, NAMESPACE, SECRET
from tests.aws.conftest import AMI, aws_config, cfn_lint, condition, credentials, status, wait_ready

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from operatorkit import KubeClient, Operator
    from tests.aws.conftest import Guest

pytestmark = pytest.mark.slow


def events(kube: KubeClient, namespace: str, name: str) -> list[dict[str, Any]]:
    found = kube.list(EVENT, namespace, field_selector=f"involvedObject.name={name}")["items"]
    return sorted(found, key=lambda e: int(e["metadata"]["resourceVersion"]))  # creation order


def reasons(kube: KubeClient, namespace: str, name: str) -> list[str]:
    return [e["reason"] for e in events(kube, namespace, name)]


def group(guest: Guest, role: str) -> dict[str, Any]:
    groups = guest.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    return next(g for g in groups if any(t["Key"] == key.ROLE_TAG and t["Value"] == role for t in g["Tags"]))


def instance_type(guest: Guest, role: str) -> str:
    ec2 = guest.client("ec2")
    template = group(guest, role)["LaunchTemplate"]
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"])
    latest = max(versions["LaunchTemplateVersions"], key=lambda v: v["VersionNumber"])
    return str(latest["LaunchTemplateData"]["InstanceType"])


def patch_spec(kube: KubeClient, name: str, namespace: str, spec: dict[str, Any]) -> None:
    kube.patch(AWS_CONFIG, name, {"spec": spec}, namespace)


def test_create_scale_replace_approve_delete(
    kube: KubeClient,
    namespace: str,
    account: str,
    guest: Guest,
    start_aws: Callable[..., Operator],
    tmp_path: Path,
) -> None:
    credentials(kube, namespace, f"arn:aws:iam::{account}:role/kubeception")
    start_aws()
    pool = {"name": "default", "instanceType": "m5.large", "minSize": 1, "maxSize": 5, "desired": 2}
    kube.create(AWS_CONFIG, aws_config("alpha", namespace, workerPools=[pool]))
    found = wait_ready(kube, "alpha", namespace)

    # Created: one stack, complete, protected, claimed; its outputs and groups in status.
    stacks = guest.live_stacks()
    assert [s["StackName"] for s in stacks] == ["kubeception-alpha"]
    stack = guest.client("cloudformation").describe_stacks(StackName="kubeception-alpha")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert stack["EnableTerminationProtection"] is True
    tags = {t["Key"]: t["Value"] for t in stack["Tags"]}
    owner = Owner.decode(tags[key.OWNER_TAG])
    assert owner is not None
    assert (owner.kind, owner.namespace, owner.name) == ("AWSConfig", namespace, "alpha")
    # The claim is in the characters S3's and IAM's tags accept: the bucket and the roles carry it too.
    assert re.fullmatch(r"[\w .:/=+\-@]{1,256}", tags[key.OWNER_TAG])
    bucket_tags = guest.client("s3").get_bucket_tagging(Bucket=found["bucket"])["TagSet"]
    assert {t["Key"]: t["Value"] for t in bucket_tags}[key.OWNER_TAG] == tags[key.OWNER_TAG]
    iam = guest.client("iam")
    for role in iam.list_roles(PathPrefix=key.iam_path("alpha"))["Roles"]:
        role_tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role["RoleName"])["Tags"]}
        assert role_tags[key.OWNER_TAG] == tags[key.OWNER_TAG], role["RoleName"]
    ec2 = guest.client("ec2")
    # So do the groups, and the instances they launch.
    instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    for claimed in [group(guest, "master"), *instances]:
        assert {t["Key"]: t["Value"] for t in claimed["Tags"]}[key.OWNER_TAG] == tags[key.OWNER_TAG]
    assert found["endpoint"] == "https://api.alpha.aws.kubeception.test"
    assert (found["masters"], found["workers"]) == ("1/1", "2/2")
    assert found["stacks"][0]["templateHash"]
    assert found["account"] == account
    assert str(found["vpcCIDR"]).endswith("/16")
    cond = condition(kube, "alpha", namespace, "Ready")
    assert "1 master(s) and 2 worker(s) InService" in cond["message"]

    # The template CloudFormation holds passes cfn-lint.
    body = guest.client("cloudformation").get_template(StackName="kubeception-alpha")["TemplateBody"]
    deployed = tmp_path / "guest.json"
    deployed.write_text(body if isinstance(body, str) else json.dumps(body))
    lint = cfn_lint(deployed)
    assert lint.returncode == 0, lint.stdout + lint.stderr

    # Certificates: encrypted in the bucket, decryptable with the cluster's key (and only as their own object).
    s3, kms = guest.client("s3"), guest.client("kms")
    bucket = found["bucket"]
    for name in key.CERTIFICATES:
        obj = key.certificate_object(name)
        blob = s3.get_object(Bucket=bucket, Key=obj)["Body"].read()
        assert b"BEGIN" not in blob
        plain, opened_by = envelope.open_(kms, blob, encryption_context("alpha", obj))
        assert opened_by == found["keyARN"]
        bundle = json.loads(plain)
        issued = kube.get(SECRET, name, "alpha")["data"]
        assert bundle["tls.crt"] == issued["tls.crt"]
        assert bundle["tls.key"] == issued["tls.key"]
    blob = s3.get_object(Bucket=bucket, Key=key.certificate_object("admin"))["Body"].read()
    with pytest.raises(AWSError, match="InvalidCiphertext"):
        envelope.open_(kms, blob, encryption_context("alpha", "certificates/other.enc"))
    boot = json.loads(s3.get_object(Bucket=bucket, Key=key.boot_object("worker-default"))["Body"].read())
    files = {f["path"]: f["contents"]["source"] for f in boot["storage"]["files"]}
    assert files["/etc/kubernetes/ssl/kubelet-bootstrap.enc"] == f"s3://{bucket}/certificates/kubelet-bootstrap.enc"
    assert "/etc/kubernetes/ssl/apiserver.enc" not in files  # a worker gets no master keys

    # The admin kubeconfig, like a KVM guest's.
    secret = kube.get(SECRET, "alpha-kubeconfig", namespace)
    kubeconfig = base64.b64decode(secret["data"]["value"]).decode()
    assert "server: https://api.alpha.aws.kubeception.test" in kubeconfig

    # What scaling must leave alone (idle passes cost no AWS call: tests/aws/test_resilience.py).
    uploaded = dict(found["uploaded"])
    masters_before = {i["InstanceId"] for i in group(guest, "master")["Instances"]}

    # Scale the pool: a change set that replaces nothing and leaves the masters alone.
    patch_spec(kube, "alpha", namespace, {"workerPools": [{**pool, "desired": 3}]})
    found = wait_ready(kube, "alpha", namespace)
    assert found["workers"] == "3/3"
    created = [e for e in events(kube, namespace, "alpha") if e["reason"] == "ChangeSetCreated"]
    assert created, reasons(kube, namespace, "alpha")
    assert "replaces nothing" in created[-1]["message"]
    assert "Master" not in created[-1]["message"]
    assert {i["InstanceId"] for i in group(guest, "master")["Instances"]} == masters_before
    assert status(kube, "alpha", namespace)["uploaded"] == uploaded  # nothing uploaded again

    # A pool's instance type: the change set says its instances are replaced, before it runs.
    patch_spec(kube, "alpha", namespace, {"workerPools": [{**pool, "desired": 3, "instanceType": "m5.xlarge"}]})
    wait_for(lambda: instance_type(guest, "worker-default") == "m5.xlarge", timeout=60, message="pool rolled")
    found = wait_ready(kube, "alpha", namespace)
    told = [(e["reason"], e["message"]) for e in events(kube, namespace, "alpha")]
    shown = next(i for i, (r, m) in enumerate(told) if r == "ChangeSetCreated" and "worker pool default" in m)
    executed = max(i for i, (r, _) in enumerate(told) if r == "ChangeSetExecuted")
    assert shown < executed
    assert instance_type(guest, "master") == "m5.large"

    # The masters' instance type: the change set waits for approval, then runs.
    patch_spec(kube, "alpha", namespace, {"masters": {"instanceType": "m5.2xlarge"}})
    wait_for(
        lambda: condition(kube, "alpha", namespace, "ChangeSetApproved").get("reason") == "WaitingForApproval",
        timeout=60,
        message="approval asked for",
    )
    pending = status(kube, "alpha", namespace)["changeSet"]
    assert pending["approvalRequired"] is True
    assert any("master instances" in r for r in pending["replaces"])
    assert condition(kube, "alpha", namespace, "Ready")["status"] == "False"
    assert instance_type(guest, "master") == "m5.large"  # not yet
    kube.patch(
        AWS_CONFIG,
        "alpha",
        {"metadata": {"annotations": {key.APPROVE_ANNOTATION: pending["name"]}}},
        namespace,
    )
    wait_for(lambda: instance_type(guest, "master") == "m5.2xlarge", timeout=60, message="masters replaced")
    wait_ready(kube, "alpha", namespace)
    assert condition(kube, "alpha", namespace, "ChangeSetApproved")["status"] == "True"

    # Deleted: every stack, bucket, key, record and role gone; the PKI and namespace too. A role under the cluster's
    # IAM path without its claim (another installation's cluster of the same id) is neither deleted nor waited for.
    ec2_trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    iam.create_role(RoleName="theirs", Path=key.iam_path("alpha"), AssumeRolePolicyDocument=json.dumps(ec2_trust))
    # Nor are a VPC and an instance tagged with the cluster's id but without the claim.
    their_tag = [{"Key": key.CLUSTER_TAG, "Value": "alpha"}]
    their_vpc = ec2.create_vpc(
        CidrBlock="10.250.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": their_tag}]
    )["Vpc"]["VpcId"]
    their_instance = ec2.run_instances(
        ImageId=AMI, MinCount=1, MaxCount=1, TagSpecifications=[{"ResourceType": "instance", "Tags": their_tag}]
    )["Instances"][0]["InstanceId"]
    kube.delete(AWS_CONFIG, "alpha", namespace)
    wait_for(lambda: kube.get_or_none(AWS_CONFIG, "alpha", namespace) is None, timeout=120, message="deleted")
    left = guest.leftovers()
    assert left.pop("roles") == ["theirs"], "the unclaimed role is left alone"
    assert (left.pop("vpcs"), left.pop("instances")) == ([their_vpc], [their_instance]), "theirs left alone"
    assert left == {k: [] for k in left}
    key_state = kms.describe_key(KeyId=found["keyARN"])["KeyMetadata"]["KeyState"]
    assert key_state == "PendingDeletion"
    wait_for(lambda: kube.get_or_none(NAMESPACE, "alpha") is None, timeout=60, message="namespace gone")
