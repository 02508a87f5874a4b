"""The cluster's line in ``kubectl get awsconfigs``: masters and workers in service in their Auto Scaling groups,
and ``Ready`` — which says what was checked: the stack complete with the current template, the certificates
delivered, every group with its desired instances InService. The guest API itself is not probed from the mother
(its load balancer is in the guest's account, outside the mother's network).

The groups are read while they are not all in service, and then whenever the drift check ran: an unchanged
cluster costs no call here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_operator import key, metrics, stacks
from aws_operator.aws import call
from aws_operator.resources._external import LOST
from aws_operator.spec import AWSConfigSpec, AWSConfigStatus, PoolStatus
from operatorkit import READY, Resource, is_true, timestamps

if TYPE_CHECKING:
    from aws_operator.shared import Shared
    from aws_operator.spec import AWSContext


@dataclass
class ClusterStatus(Resource[AWSConfigSpec, AWSConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: AWSContext) -> None:
        spec = ctx.spec
        status = ctx.status
        status.cluster_id, status.kubernetes_version = spec.cluster_id, spec.kubernetes_version
        if not status.created_at:
            status.created_at = timestamps.stamp()
        desired = {"master": spec.masters.replicas} | {f"worker-{p.name}": p.desired for p in spec.worker_pools}
        counted = self._in_service(ctx, desired)
        masters = counted.get("master", 0)
        workers = sum(counted.get(f"worker-{p.name}", 0) for p in spec.worker_pools)
        status.masters = f"{masters}/{spec.masters.replicas}"
        status.workers = f"{workers}/{sum(p.desired for p in spec.worker_pools)}"
        status.worker_pools = [
            PoolStatus(name=p.name, desired=p.desired, in_service=counted.get(f"worker-{p.name}", 0))
            for p in spec.worker_pools
        ]
        short = [
            f"{role} {counted.get(role, 0)}/{want}" for role, want in desired.items() if counted.get(role, 0) < want
        ]
        gauge = metrics.ready.labels(ctx.namespace or "", ctx.name)
        if short:
            ctx.set_condition(READY, "False", "InstancesNotInService", f"not yet in service: {', '.join(short)}")
            ctx.requeue_after(self.shared.settings.stacks.poll_seconds)
            gauge.set(0)
            return
        if is_true(status, LOST):
            gauge.set(0)
            return  # Ready says what was lost (the drift check found it gone)
        stack = key.stack(spec.cluster_id)
        message = (
            f"stack {stack} complete with the current template; certificates delivered; {masters} master(s) and "
            f"{workers} worker(s) InService in their Auto Scaling groups; the API at "
            f"{status.endpoint} is not probed from the mother"
        )
        if not is_true(status, READY):
            ctx.event("Normal", "Ready", message)
        if not status.ready_at:
            status.ready_at = timestamps.stamp()
        ctx.set_condition(READY, "True", "InstancesInService", message)
        gauge.set(1)

    def _in_service(self, ctx: AWSContext, desired: dict[str, int]) -> dict[str, int]:
        """Role → InService instances: read from AWS while short of ``desired`` or when the drift check is due."""
        recorded = {"master": int((ctx.status.masters or "0/0").split("/")[0])} | {
            f"worker-{p.name}": p.in_service for p in ctx.status.worker_pools
        }
        settled = all(recorded.get(role, 0) >= want for role, want in desired.items())
        checked_now = ctx.status.drift_checked_at != ctx.recorded.drift_checked_at
        if settled and not checked_now:
            return recorded
        account = self.shared.account(ctx)
        cfn = account.client("cloudformation")
        summaries = stacks.resources(cfn, key.stack(ctx.spec.cluster_id))
        groups = stacks.physical_ids(summaries, "AWS::AutoScaling::AutoScalingGroup")
        if not groups:
            return {}
        described = call(
            "autoscaling:DescribeAutoScalingGroups",
            account.client("autoscaling").describe_auto_scaling_groups,
            AutoScalingGroupNames=list(groups.values()),
        )["AutoScalingGroups"]
        counted: dict[str, int] = {}
        for group in described:
            role = next((t["Value"] for t in group.get("Tags", []) if t["Key"] == key.ROLE_TAG), None)
            if role is not None:
                counted[role] = sum(1 for i in group.get("Instances", []) if i.get("LifecycleState") == "InService")
        return counted
