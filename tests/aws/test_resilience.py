"""A restarted operator makes nothing twice; drift and lost state are reported, not repaired behind anyone's
back; twenty create/delete cycles leave nothing in the account."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import botocore.exceptions
import pytest

from aws_operator import key
from aws_operator.spec import AWS_CONFIG
from kubeception_testenv import wait_for
from operatorkit import Owner
from operatorkit.kinds import EVENT
from operatorkit.testing import metric_sum
from tests.aws.conftest import aws_config, condition, credentials, status, wait_ready

if TYPE_CHECKING:
    from collections.abc import Callable

    from operatorkit import KubeClient, Operator
    from tests.aws.conftest import Guest

pytestmark = pytest.mark.slow


def api_calls() -> float:
    return metric_sum("kubeception_aws_api_calls_total")


def reconciles() -> float:
    return metric_sum("controller_runtime_reconcile_total", controller="awsconfig")


def test_restart_mid_creation_and_idle_passes(
    kube: KubeClient, namespace: str, account: str, guest: Guest, start_aws: Callable[..., Operator]
) -> None:
    credentials(kube, namespace, f"arn:aws:iam::{account}:role/kubeception")
    first = start_aws()
    kube.create(AWS_CONFIG, aws_config("again", namespace, workerPools=[{"name": "a", "desired": 1}]))
    wait_for(lambda: status(kube, "again", namespace).get("keyARN"), timeout=60, message="key made")
    first.stop()  # mid-creation: the key exists, perhaps more
    start_aws()
    found = wait_ready(kube, "again", namespace)
    assert [s["StackName"] for s in guest.live_stacks()] == ["kubeception-again"]
    assert [b["Name"] for b in guest.client("s3").list_buckets()["Buckets"]] == [found["bucket"]]
    aliases = [a for a in guest.client("kms").list_aliases()["Aliases"] if "kubeception" in a["AliasName"]]
    assert [a["AliasName"] for a in aliases] == [key.key_alias("again")]

    # An unchanged cluster: passes make no AWS call at all.
    before, passes = api_calls(), reconciles()
    kube.patch(AWS_CONFIG, "again", {"metadata": {"labels": {"poke": "1"}}}, namespace)
    wait_for(lambda: reconciles() > passes, timeout=30, message="a pass")
    kube.patch(AWS_CONFIG, "again", {"metadata": {"labels": {"poke": "2"}}}, namespace)
    wait_for(lambda: reconciles() > passes + 1, timeout=30, message="another pass")
    assert api_calls() == before


def test_a_key_made_before_its_alias_is_taken_not_made_twice_and_deleted(
    kube: KubeClient, namespace: str, account: str, guest: Guest, start_aws: Callable[..., Operator]
) -> None:
    """CreateKey then CreateAlias: an operator stopped between the two leaves a key only its claim tag finds. The
    next pass takes it instead of making a second; deletion schedules it. A key someone else made is not touched."""
    credentials(kube, namespace, f"arn:aws:iam::{account}:role/kubeception")
    made = kube.create(AWS_CONFIG, aws_config("resumed", namespace, workerPools=[{"name": "a", "desired": 1}]))
    kms = guest.client("kms")
    claim = [
        {"TagKey": key.OWNER_TAG, "TagValue": Owner.of(made).encode_tag()},
        {"TagKey": key.CLUSTER_TAG, "TagValue": "resumed"},
    ]
    interrupted = kms.create_key(Tags=claim)["KeyMetadata"]  # what the stopped operator left
    theirs = kms.create_key(Description="the account owner's own key")["KeyMetadata"]
    start_aws()
    found = wait_ready(kube, "resumed", namespace)
    assert found["keyARN"] == interrupted["Arn"]
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert aliases[key.key_alias("resumed")] == interrupted["KeyId"]
    resumed = [e for e in kube.list(EVENT, namespace)["items"] if e.get("reason") == "KeyResumed"]
    assert len(resumed) == 1
    assert interrupted["Arn"] in resumed[0]["message"]
    live_keys = guest.leftovers()["keys"]  # live customer keys, AWS's own left out
    assert sorted(live_keys) == sorted([interrupted["KeyId"], theirs["KeyId"]]), "no second key made"

    kube.delete(AWS_CONFIG, "resumed", namespace)
    wait_for(lambda: kube.get_or_none(AWS_CONFIG, "resumed", namespace) is None, timeout=120, message="deleted")
    assert kms.describe_key(KeyId=interrupted["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert kms.describe_key(KeyId=theirs["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled", "theirs untouched"
    assert guest.leftovers()["keys"] == [theirs["KeyId"]]


def test_drift_and_lost_state(
    kube: KubeClient, namespace: str, account: str, guest: Guest, start_aws: Callable[..., Operator]
) -> None:
    credentials(kube, namespace, f"arn:aws:iam::{account}:role/kubeception")
    start_aws(stacks={"poll_seconds": 0.5, "drift_check_seconds": 5})
    kube.create(AWS_CONFIG, aws_config("drifty", namespace, workerPools=[{"name": "a", "desired": 2, "maxSize": 4}]))
    wait_ready(kube, "drifty", namespace)
    assert condition(kube, "drifty", namespace, "Drifted")["status"] == "False"

    # Someone scales a pool by hand: drift, reported — the group is left as they set it.
    autoscaling = guest.client("autoscaling")
    group = next(
        g
        for g in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
        if any(t["Value"] == "worker-a" for t in g["Tags"])
    )
    autoscaling.set_desired_capacity(AutoScalingGroupName=group["AutoScalingGroupName"], DesiredCapacity=3)
    wait_for(
        lambda: condition(kube, "drifty", namespace, "Drifted").get("status") == "True",
        timeout=30,
        message="drift seen",
    )
    assert "DesiredCapacity is 3, the template says 2" in condition(kube, "drifty", namespace, "Drifted")["message"]
    assert (
        autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group["AutoScalingGroupName"]])[
            "AutoScalingGroups"
        ][0]["DesiredCapacity"]
        == 3
    )

    # The bucket vanishes: StateLost, not recreated — until asked.
    s3 = guest.client("s3")
    bucket = status(kube, "drifty", namespace)["bucket"]
    for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=obj["Key"])
    s3.delete_bucket(Bucket=bucket)
    wait_for(
        lambda: "bucket" in condition(kube, "drifty", namespace, "Drifted").get("message", ""),
        timeout=30,
        message="bucket loss seen",
    )
    lost = condition(kube, "drifty", namespace, "StateLost")
    assert (lost["status"], lost["reason"]) == ("True", "BucketLost")
    assert condition(kube, "drifty", namespace, "Ready")["status"] == "False"
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]  # reported, not recreated
    kube.patch(AWS_CONFIG, "drifty", {"metadata": {"annotations": {key.RECREATE_ANNOTATION: "bucket"}}}, namespace)
    wait_for(lambda: bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]], timeout=30, message="recreated")
    wait_for(
        lambda: len(s3.list_objects_v2(Bucket=bucket).get("Contents", [])) == len(key.CERTIFICATES) + 2,
        timeout=30,
        message="objects uploaded again",
    )
    wait_for(
        lambda: condition(kube, "drifty", namespace, "StateLost").get("status") == "False",
        timeout=30,
        message="no longer lost",
    )

    # The stack vanishes: StateLost again, and made again only on request.
    cfn = guest.client("cloudformation")
    with contextlib.suppress(botocore.exceptions.ClientError):  # moto: the stack goes, its VPC refuses to
        cfn.delete_stack(StackName=key.stack("drifty"))
    wait_for(
        lambda: condition(kube, "drifty", namespace, "StateLost").get("reason") == "StackLost",
        timeout=30,
        message="stack loss seen",
    )
    assert guest.live_stacks() == []
    kube.patch(AWS_CONFIG, "drifty", {"metadata": {"annotations": {key.RECREATE_ANNOTATION: "stack"}}}, namespace)
    wait_for(
        lambda: [s["StackName"] for s in guest.live_stacks()] == ["kubeception-drifty"], timeout=30, message="back"
    )
    wait_ready(kube, "drifty", namespace)


def test_twenty_cycles_leave_nothing(
    kube: KubeClient, namespace: str, account: str, guest: Guest, start_aws: Callable[..., Operator]
) -> None:
    credentials(kube, namespace, f"arn:aws:iam::{account}:role/kubeception")
    start_aws()
    for round_ in range(5):
        names = [f"cycle-{round_}-{i}" for i in range(4)]
        for name in names:
            kube.create(AWS_CONFIG, aws_config(name, namespace, workerPools=[{"name": "a", "desired": 1}]))
        # Four stacks at once on a stream that yields the cores to the real-node one (`make test`'s NICE): a leak
        # test, not a latency test — generous deadlines.
        for name in names:
            wait_ready(kube, name, namespace, timeout=300)
        for name in names:
            kube.delete(AWS_CONFIG, name, namespace)
        wait_for(lambda: not kube.list(AWS_CONFIG, namespace)["items"], timeout=300, message=f"round {round_} gone")
        left = guest.leftovers()
        assert left == {k: [] for k in left}, f"round {round_}"
