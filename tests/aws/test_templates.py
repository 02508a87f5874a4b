"""The guest template and the change-set classifier, as pure functions: every shape of cluster renders a template
cfn-lint accepts, and a change set's changes are read the way the operator acts on them."""

from __future__ import annotations

import ipaddress
import json
from typing import TYPE_CHECKING, cast

import pytest

from aws_operator import key, stacks
from aws_operator.spec import AWSConfigSpec
from aws_operator.templates.guest import GuestInputs, Pool, render
from operatorkit import Owner
from tests.aws.conftest import cfn_lint

if TYPE_CHECKING:
    from pathlib import Path

    from mypy_boto3_cloudformation.type_defs import ChangeTypeDef, StackResourceSummaryTypeDef


def inputs(**changes: object) -> GuestInputs:
    values: dict[str, object] = {
        "cluster_id": "abc",
        "kubernetes_version": "1.36.3",
        "vpc_cidr": ipaddress.IPv4Network("10.130.0.0/16"),
        "zones": ("eu-west-1a", "eu-west-1b", "eu-west-1c"),
        "ami": "ami-12c6146b",
        "master_type": "m5.large",
        "masters": 3,
        "pools": (Pool("default", "m5.large", 1, 3, 2), Pool("gpu-a", "p3.2xlarge", 0, 2, 0)),
        "bucket": "kubeception-abc-123456789012-ew1",
        "key_arn": "arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
        "zone": "abc.aws.kubeception.test",
        "hosted_zone_id": None,
        "claim": Owner("AWSConfig", "team-a", "abc", "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b").encode_tag(),
    }
    return GuestInputs(**(values | changes))


VARIANTS: list[dict[str, object]] = [
    {},
    {"zones": ("eu-west-1a",), "masters": 1, "pools": ()},
    {"hosted_zone_id": "Z0123456789ABC", "vpc_cidr": ipaddress.IPv4Network("10.9.8.0/24")},
]


def test_templates_pass_cfn_lint(tmp_path: Path) -> None:
    paths = []
    for number, variant in enumerate(VARIANTS):
        body = render(inputs(**variant))
        template = json.loads(body)
        assert ("HostedZone" in template["Resources"]) == (variant.get("hosted_zone_id") is None)
        assert render(inputs(**variant)) == body  # the same inputs, the same template (and hash)
        paths.append(tmp_path / f"t{number}.json")
        paths[-1].write_text(body)
    lint = cfn_lint(*paths)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_pool_names_never_share_logical_ids() -> None:
    names = ["a-b", "ab", "a-bc", "ab-c", "a1-b", "a-1b", "a1b"]
    assert len({key.pool_id(n) for n in names}) == len(names)


def test_the_ids_the_operator_reads_are_the_templates() -> None:
    """The logical ids aws-operator looks up (spelt in key.py) name what the template renders: the masters'
    resources, what they stand on, each pool's launch template and group, the VPC and the outputs read into status."""
    rendered = inputs()
    template = json.loads(render(rendered))
    resources, outputs = set(template["Resources"]), set(template["Outputs"])
    assert resources >= key.MASTER_RESOURCES
    assert all(any(r.startswith(prefix) for r in resources) for prefix in key.FOUNDATION)
    assert key.VPC in resources
    for pool in rendered.pools:
        prefix = key.pool_resources(pool.name)
        assert {key.launch_template(prefix), key.group(prefix)} <= resources
        assert key.group(prefix) in outputs
    assert {key.API_ENDPOINT_OUTPUT, key.HOSTED_ZONE_ID_OUTPUT} <= outputs


def change(action: str, logical: str, kind: str, replacement: str | None = None) -> ChangeTypeDef:
    rc: dict[str, object] = {"Action": action, "LogicalResourceId": logical, "ResourceType": kind}
    if replacement:
        rc["Replacement"] = replacement
    return cast("ChangeTypeDef", {"Type": "Resource", "ResourceChange": rc})


def summary(logical: str, kind: str, physical: str | None) -> StackResourceSummaryTypeDef:
    """A ListStackResources entry as AWS gives it: no PhysicalResourceId while the resource is being made."""
    found: dict[str, object] = {"LogicalResourceId": logical, "ResourceType": kind, "ResourceStatus": "CREATE_COMPLETE"}
    if physical is not None:
        found["PhysicalResourceId"] = physical
    return cast("StackResourceSummaryTypeDef", found)


def test_physical_ids_skip_a_resource_still_being_made() -> None:
    """The drift check and the status read groups by physical id; a group being created has none yet."""
    summaries = {
        "MastersGroup": summary("MastersGroup", "AWS::AutoScaling::AutoScalingGroup", "masters-abc"),
        "PoolnewGroup": summary("PoolnewGroup", "AWS::AutoScaling::AutoScalingGroup", None),
        "PoolemptyGroup": summary("PoolemptyGroup", "AWS::AutoScaling::AutoScalingGroup", ""),
        "VPC": summary("VPC", "AWS::EC2::VPC", "vpc-1"),
    }
    assert stacks.physical_ids(summaries, "AWS::AutoScaling::AutoScalingGroup") == {"MastersGroup": "masters-abc"}
    assert stacks.physical_ids(summaries, "AWS::EC2::VPC") == {"VPC": "vpc-1"}
    assert stacks.physical_ids({}, "AWS::EC2::VPC") == {}


def test_scaling_replaces_nothing_and_needs_no_approval() -> None:
    plan = stacks.classify([change("Modify", "PooldefaultGroup", "AWS::AutoScaling::AutoScalingGroup")], {})
    assert (plan.replaces, plan.approval_required) == ([], False)


def test_a_pool_instance_type_rolls_the_pool_only() -> None:
    plan = stacks.classify(
        [
            change("Modify", "PoolgpuXaLaunchTemplate", "AWS::EC2::LaunchTemplate"),
            change("Modify", "PoolgpuXaGroup", "AWS::AutoScaling::AutoScalingGroup"),
        ],
        {"PoolgpuXa": "gpu-a"},
    )
    assert plan.replaces == ["worker pool gpu-a instances (rolled one at a time)"]
    assert plan.approval_required is False


@pytest.mark.parametrize(
    "changes",
    [
        [change("Modify", "MasterLaunchTemplate", "AWS::EC2::LaunchTemplate")],
        [change("Modify", "PrivateSubnet0", "AWS::EC2::Subnet", "True")],
        [change("Modify", "VPC", "AWS::EC2::VPC", "Conditional")],
        [change("Remove", "MasterGroup", "AWS::AutoScaling::AutoScalingGroup")],
    ],
)
def test_what_touches_the_masters_waits_for_approval(changes: list[dict[str, object]]) -> None:
    assert stacks.classify(changes, {}).approval_required is True


def test_spec_limits() -> None:
    base = {
        "clusterID": "abc",
        "region": "eu-west-1",
        "availabilityZones": ["eu-west-1a"],
        "kubernetesVersion": "1.36.3",
        "credentials": {"secretName": "aws"},
    }
    AWSConfigSpec.model_validate(base)
    for bad in (
        {"availabilityZones": ["us-east-1a"]},
        {"availabilityZones": ["eu-west-1a", "eu-west-1a"]},
        {"clusterID": "flannel-x"},
        {"vpcCIDR": "10.0.0.0/8"},
        {"workerPools": [{"name": "p", "minSize": 2, "desired": 1}]},
        {"workerPools": [{"name": "p"}, {"name": "p"}]},
    ):
        with pytest.raises(ValueError, match=r"clusterID|availabilityZones|vpcCIDR|minSize|unique"):
            AWSConfigSpec.model_validate(base | bad)


def test_bucket_names_fit_s3() -> None:
    name = key.bucket("a" * 30, "123456789012", "ap-southeast-2")
    assert len(name) <= 63
    assert name == f"kubeception-{'a' * 30}-123456789012-as2"
