"""Changing the guest's stack: one change set per spec generation and template, described — what it would change
and replace, to status and an Event — before it runs, and run only when :mod:`aws_operator.stack_policy` says it
may: one that replaces masters waits for the annotation ``kubeception.io/approve-change-set: <its name>``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_operator import key, metrics, stack_policy, stacks
from aws_operator.aws import AWSError, call
from aws_operator.resources._external import claim_tags, tag_list
from aws_operator.spec import ChangeSetStatus
from aws_operator.stack_policy import ChangeSet
from operatorkit import READY, CancelReconcile, RequeueAfter, timestamps

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

    from aws_operator.shared import Shared
    from aws_operator.spec import AWSContext, StackStatus

CONDITION = "StackReady"
"""The stack's state, as its creation, its changes and its operations leave it."""
APPROVAL = "ChangeSetApproved"


def not_ready(ctx: AWSContext, reason: str, message: str) -> None:
    ctx.set_condition(CONDITION, "False", reason, message)
    ctx.set_condition(READY, "False", reason, message)


def change(
    ctx: AWSContext, shared: Shared, cfn: CloudFormationClient, name: str, entry: StackStatus, body: str, digest: str
) -> None:
    """Make (or find again) the change set of stack ``name`` to the template ``body``, and run it when it may."""
    current = ctx.status.change_set
    if current and current.template_hash != digest:
        drop_change_set(ctx, cfn, name)
        current = None
    fresh = current is None
    if current is None:
        change_set = stack_policy.change_set_name(ctx.generation, digest)
        call(
            "cloudformation:CreateChangeSet",
            cfn.create_change_set,
            StackName=name,
            ChangeSetName=change_set,
            ChangeSetType="UPDATE",
            TemplateBody=body,
            Capabilities=["CAPABILITY_IAM"],
            Tags=tag_list(claim_tags(ctx)),
            ClientToken=change_set,
        )
        current = ChangeSetStatus(name=change_set, template_hash=digest)
        ctx.status.change_set = current
    described = stacks.change_set_changes(cfn, name, current.name)
    state = described.get("Status")
    reason = str(described.get("StatusReason") or state)
    found = stack_policy.change_set(state, reason)
    if found is ChangeSet.PENDING:
        not_ready(ctx, "ChangeSetPending", f"change set {current.name} is {state}")
        raise RequeueAfter(shared.settings.stacks.poll_seconds, "change set being made")
    if found is ChangeSet.EMPTY:
        drop_change_set(ctx, cfn, name)
        metrics.change_sets.labels("empty").inc()
        entry.template_hash = digest
        return
    if found is ChangeSet.FAILED:
        drop_change_set(ctx, cfn, name)
        metrics.change_sets.labels("failed").inc()
        ctx.status.failed_template = digest
        entry.reason = reason
        ctx.event("Warning", "ChangeSetFailed", f"change set {current.name}: {reason}")
        not_ready(ctx, "ChangeSetFailed", f"change set {current.name} failed: {reason}")
        raise CancelReconcile
    pools = {key.pool_resources(p.name): p.name for p in ctx.spec.worker_pools}
    plan = stacks.classify(described.get("Changes", []), pools)
    current.changes, current.replaces = plan.changes[:64], plan.replaces[:64]
    current.approval_required = plan.approval_required
    if fresh:
        replaces = f"; replaces {', '.join(plan.replaces)}" if plan.replaces else "; replaces nothing"
        ctx.event(
            "Warning" if plan.approval_required else "Normal",
            "ChangeSetCreated",
            f"{current.name}: {len(plan.changes)} change(s): {', '.join(plan.changes[:8])}{replaces}",
        )
    gauge = metrics.approval_pending.labels(ctx.namespace or "", ctx.name)
    approved = ctx.annotations.get(key.APPROVE_ANNOTATION)
    if not stack_policy.may_run(approval_required=plan.approval_required, approved=approved, change_set=current.name):
        message = (
            f"change set {current.name} replaces {', '.join(plan.replaces)}; to run it, annotate this "
            f"AWSConfig {key.APPROVE_ANNOTATION}={current.name}"
        )
        if fresh:
            metrics.change_sets.labels("waiting").inc()
        gauge.set(1)
        ctx.set_condition(APPROVAL, "False", "WaitingForApproval", message)
        not_ready(ctx, "WaitingForApproval", message)
        raise CancelReconcile
    gauge.set(0)
    if plan.approval_required:
        ctx.set_condition(APPROVAL, "True", "Approved", f"change set {current.name} approved by annotation")
    call(
        "cloudformation:ExecuteChangeSet",
        cfn.execute_change_set,
        StackName=name,
        ChangeSetName=current.name,
        ClientRequestToken=current.name,
    )
    metrics.change_sets.labels("executed").inc()
    ctx.event("Normal", "ChangeSetExecuted", f"{current.name} on stack {name}")
    entry.operation, entry.pending_hash, entry.updated_at = "update", digest, timestamps.stamp()
    ctx.status.change_set = None


def drop_change_set(ctx: AWSContext, cfn: CloudFormationClient, stack: str) -> None:
    current, ctx.status.change_set = ctx.status.change_set, None
    if not current:
        return
    try:
        call("cloudformation:DeleteChangeSet", cfn.delete_change_set, StackName=stack, ChangeSetName=current.name)
    except AWSError as exc:
        if exc.code not in {"ChangeSetNotFound", "ChangeSetNotFoundException", "ValidationError"}:
            raise
