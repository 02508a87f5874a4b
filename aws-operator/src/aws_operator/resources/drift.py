"""Drift: every ``stacks.driftCheckSeconds``, the account is compared with what the stack made and what the
status recorded — the stack still there, complete and with the recorded template; each Auto Scaling group there
with the sizes its template gives; the VPC there; the bucket and key there and claimed. Anything else is the
``Drifted`` condition (and a metric an alert watches), never silently re-applied: a person decides whether the
account or the spec is right.

CloudFormation's own DetectStackDrift is not used: moto's server answers it with an internal error, so it could
not be tested here; the checks above are list and describe calls any endpoint answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_operator import key, metrics, stacks
from aws_operator.aws import AWSError, call
from aws_operator.resources import bucket as buckets
from aws_operator.resources import encryption_key
from aws_operator.resources._external import not_lost, report_lost
from aws_operator.spec import AWSConfigSpec, AWSConfigStatus
from operatorkit import Resource, get_condition, timestamps

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

    from aws_operator.aws import Account
    from aws_operator.shared import Shared
    from aws_operator.spec import AWSContext

CONDITION = "Drifted"


def due(ctx: AWSContext, every: float) -> float:
    """Seconds until the next check (0: now)."""
    last = ctx.status.drift_checked_at
    if not last:
        return 0.0
    elapsed = timestamps.since(last)
    return max(0.0, every - elapsed)


@dataclass
class Drift(Resource[AWSConfigSpec, AWSConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: AWSContext) -> None:
        every = self.shared.settings.stacks.drift_check_seconds
        wait = due(ctx, every)
        if wait > 0:
            ctx.requeue_after(wait)
            return
        found = self.check(ctx)
        ctx.status.drift_checked_at = timestamps.stamp()
        gauge = metrics.drifted.labels(ctx.namespace or "", ctx.name)
        if found:
            message = "; ".join(found[:10])
            was = get_condition(ctx.status, CONDITION) or {}
            if was.get("status") != "True" or was.get("message") != message:
                ctx.event("Warning", "Drifted", message)
            ctx.set_condition(CONDITION, "True", "AccountDiffers", message)
            gauge.set(1)
        else:
            ctx.set_condition(CONDITION, "False", "Matches", "the stack, its groups, VPC, bucket and key are as made")
            gauge.set(0)
        ctx.requeue_after(every)

    def check(self, ctx: AWSContext) -> list[str]:
        account = self.shared.account(ctx)
        found: list[str] = []
        name = key.stack(ctx.spec.cluster_id)
        cfn = account.client("cloudformation")
        stack = stacks.describe(cfn, name)
        recorded_hash = next((entry.template_hash for entry in ctx.status.stacks if entry.name == name), None)
        if stack is None:
            report_lost(ctx, "stack", f"CloudFormation stack {name} no longer exists")
            return [f"stack {name} is gone"]
        if stack["StackStatus"] not in stacks.COMPLETE:
            found.append(f"stack {name} is {stack['StackStatus']}")
        template = stacks.current_template(cfn, name)
        if recorded_hash and stacks.template_hash(stacks.canonical(template)) != recorded_hash:
            found.append(f"stack {name} was updated outside kubeception")
        found += self._groups(account, cfn, name, template)
        vpc = stacks.physical_ids(stacks.resources(cfn, name), "AWS::EC2::VPC").get(key.VPC)
        if vpc is not None:
            try:
                call("ec2:DescribeVpcs", account.client("ec2").describe_vpcs, VpcIds=[vpc])
            except AWSError as exc:
                if exc.code != "InvalidVpcID.NotFound":
                    raise
                found.append(f"VPC {vpc} is gone")
        s3 = account.client("s3")
        if (bucket := ctx.status.bucket) and not buckets.exists(s3, bucket):
            found.append(f"bucket {bucket} is gone")
            report_lost(ctx, "bucket", f"S3 bucket {bucket} no longer exists")
        if key_arn := ctx.status.key_arn:
            described = encryption_key.describe(account.client("kms"), key_arn)
            if described is None or described.get("KeyState") != "Enabled":
                state = "gone" if described is None else described.get("KeyState", "gone")
                found.append(f"key {key_arn} is {state}")
                report_lost(ctx, "key", f"KMS key {key_arn} is {state}")
        if not any(f.endswith("is gone") for f in found):
            not_lost(ctx)
        return found

    @staticmethod
    def _groups(account: Account, cfn: CloudFormationClient, name: str, template: dict[str, Any]) -> list[str]:
        found: list[str] = []
        # A group still being made has no physical id yet (the stack is then not COMPLETE, reported above).
        physical = stacks.physical_ids(stacks.resources(cfn, name), "AWS::AutoScaling::AutoScalingGroup")
        if not physical:
            return found
        described = call(
            "autoscaling:DescribeAutoScalingGroups",
            account.client("autoscaling").describe_auto_scaling_groups,
            AutoScalingGroupNames=list(physical.values()),
        )["AutoScalingGroups"]
        by_name = {g["AutoScalingGroupName"]: g for g in described}
        for logical, group_name in physical.items():
            group = by_name.get(group_name)
            if group is None:
                found.append(f"Auto Scaling group {logical} ({group_name}) is gone")
                continue
            props = template.get("Resources", {}).get(logical, {}).get("Properties", {})
            for field, prop in (("MinSize", "MinSize"), ("MaxSize", "MaxSize"), ("DesiredCapacity", "DesiredCapacity")):
                if str(group.get(field)) != str(props.get(prop)):
                    found.append(f"{logical} {field} is {group.get(field)}, the template says {props.get(prop)}")
        return found
