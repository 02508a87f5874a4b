"""The guest's main stack (see :mod:`aws_operator.templates.guest`), created once and changed only through
change sets.

Creation is one CreateStack with termination protection, ``OnFailure=DELETE`` and an idempotency token: a restarted
operator finds its stack by name (and its claim by tag) instead of making a second one. A creation that fails is
deleted — nothing half-made stays in the account — and the same template is not tried again until the spec
changes; the condition carries CloudFormation's reason. Every later change is a change set: what it would change
and replace goes to status and an Event before it runs, and one that replaces masters waits for the annotation
``kubeception.io/approve-change-set: <its name>``. Progress and failures come from the stack's events; the
operator looks again every ``stacks.pollSeconds`` while CloudFormation works, never sleeps.

An unchanged, complete stack costs no AWS call per pass: the recorded template hash says there is nothing to do,
and the drift check looks at the account on its own schedule.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from aws_operator import key, metrics, stack_policy, stacks
from aws_operator.aws import AWSError, call
from aws_operator.leftovers import left_behind, sweep
from aws_operator.resources._change_set import CONDITION, change, drop_change_set, not_ready
from aws_operator.resources._external import (
    check_owner,
    claim,
    claim_tags,
    made,
    record_made,
    recreate_requested,
    report_lost,
    require_owner,
    tag_list,
)
from aws_operator.spec import AWSConfigSpec, AWSConfigStatus, StackStatus
from aws_operator.stack_policy import CreateError, Delete, Next, Stack
from aws_operator.templates.guest import GuestInputs, Pool, render
from operatorkit import READY, CancelReconcile, ReconcileError, RequeueAfter, Resource, required, timestamps

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudformation.type_defs import StackTypeDef

    from aws_operator.shared import Shared
    from aws_operator.spec import AWSContext

UNSUPPORTED = {"ResponseParserError", "NotImplemented", "NotImplementedError"}
"""What an endpoint answers to an API it does not implement (moto's server: an HTML 500 page)."""


class Unsupported(ReconcileError):
    reason = "VersionUnsupported"


def inputs(ctx: AWSContext, shared: Shared) -> GuestInputs:
    spec = ctx.spec
    ami = shared.settings.images.amis.get(spec.kubernetes_version, {}).get(spec.region)
    if ami is None:
        known = sorted(shared.settings.images.amis)
        message = (
            f"no machine image for Kubernetes {spec.kubernetes_version} in {spec.region} "
            f"(this installation has images for {', '.join(known) or 'no version'})"
        )
        ctx.set_condition(READY, "False", "VersionUnsupported", message)
        raise Unsupported(message)
    return GuestInputs(
        cluster_id=spec.cluster_id,
        kubernetes_version=spec.kubernetes_version,
        vpc_cidr=ipaddress.IPv4Network(required(ctx.status.vpc_cidr, "vpcCIDR")),
        zones=tuple(spec.availability_zones),
        ami=ami,
        master_type=spec.masters.instance_type,
        masters=spec.masters.replicas,
        pools=tuple(Pool(p.name, p.instance_type, p.min_size, p.max_size, p.desired) for p in spec.worker_pools),
        bucket=required(ctx.status.bucket, "bucket"),
        key_arn=required(ctx.status.key_arn, "keyARN"),
        zone=shared.zone(ctx),
        hosted_zone_id=spec.dns.hosted_zone_id,
        claim=claim(ctx),
    )


def stack_entry(ctx: AWSContext, name: str) -> StackStatus:
    """This stack's entry in ``status.stacks`` (made when missing): updated in place, written with the status."""
    entries = ctx.status.stacks
    found = next((entry for entry in entries if entry.name == name), None)
    if found is None:
        found = StackStatus(name=name)
        entries.append(found)
    return found


def create_failed(name: str, reason: str) -> str:
    return (
        f"creating stack {name} failed: {reason}. The stack was deleted, nothing is left behind; the same spec is "
        "not tried again until it changes"
    )


@dataclass
class GuestStack(Resource[AWSConfigSpec, AWSConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: AWSContext) -> None:
        body = render(inputs(ctx, self.shared))
        digest = stacks.template_hash(body)
        name = key.stack(ctx.spec.cluster_id)
        entry = stack_entry(ctx, name)
        asked = recreate_requested(ctx, "stack")  # the drift check found it gone: look, and make it again
        if stack_policy.settled(
            status=entry.status,
            operation=entry.operation,
            template_hash=entry.template_hash,
            digest=digest,
            change_set=ctx.status.change_set is not None,
            recreate_asked=asked,
        ):
            self._ready(ctx, entry)
            return
        cfn = self.shared.account(ctx).client("cloudformation")
        stack = stacks.describe(cfn, name)
        if stack is None:
            stack = self._create(ctx, cfn, name, body, digest, entry)
        require_owner(ctx, stacks.tag(stack, key.OWNER_TAG), f"CloudFormation stack {name}")
        record_made(ctx, "stack")
        self._follow(ctx, cfn, stack, entry, body, digest, changed=False)

    # -- creation ------------------------------------------------------------------------------------------------
    def _create(
        self, ctx: AWSContext, cfn: CloudFormationClient, name: str, body: str, digest: str, entry: StackStatus
    ) -> StackTypeDef:
        if entry.template_hash and not recreate_requested(ctx, "stack"):
            raise report_lost(ctx, "stack", f"CloudFormation stack {name} no longer exists")
        if ctx.status.failed_template == digest:
            not_ready(ctx, "CreateFailed", create_failed(name, entry.reason or "see the Events"))
            raise CancelReconcile
        entry.operation, entry.pending_hash, entry.updated_at = "create", digest, timestamps.stamp()
        entry.template_hash = None
        record_made(ctx, "stack", before_call=True)
        try:
            call(
                "cloudformation:CreateStack",
                cfn.create_stack,
                StackName=name,
                TemplateBody=body,
                Capabilities=["CAPABILITY_IAM"],
                EnableTerminationProtection=True,
                OnFailure="DELETE",
                Tags=tag_list(claim_tags(ctx)),
                ClientRequestToken=f"create-{digest}-{ctx.obj['metadata']['uid'][:8]}",
            )
        except AWSError as exc:
            meaning = stack_policy.create_error(exc.code)
            if meaning is CreateError.FOUND and (found := stacks.describe(cfn, name)) is not None:
                return found
            if meaning is CreateError.RETRY:
                raise
            self._create_failed(ctx, cfn, name, entry, f"{exc.code}: {exc.aws_message}")
        ctx.event("Normal", "StackCreating", f"creating stack {name} (template {digest})")
        found = stacks.describe(cfn, name)
        if found is None:  # OnFailure=DELETE already removed it
            self._create_failed(ctx, cfn, name, entry, "the stack was rolled back and deleted")
        return found

    def _create_failed(
        self, ctx: AWSContext, cfn: CloudFormationClient, name: str, entry: StackStatus, reason: str
    ) -> NoReturn:
        ctx.status.failed_template = entry.pending_hash
        metrics.finished("create", False, entry.updated_at)
        leftover = stacks.describe(cfn, name)
        if leftover is not None and key.same_owner(stacks.tag(leftover, key.OWNER_TAG), claim(ctx)):
            self._delete_stack(cfn, leftover)
        entry.operation = entry.pending_hash = entry.status = None
        entry.reason = reason
        message = create_failed(name, reason)
        ctx.event("Warning", "StackCreateFailed", message)
        not_ready(ctx, "CreateFailed", message)
        raise CancelReconcile

    # -- following an operation ----------------------------------------------------------------------------------
    def _follow(
        self,
        ctx: AWSContext,
        cfn: CloudFormationClient,
        stack: StackTypeDef,
        entry: StackStatus,
        body: str,
        digest: str,
        changed: bool,
    ) -> None:
        status, name = stack["StackStatus"], stack["StackName"]
        entry.status, entry.reason = status, stack.get("StackStatusReason")
        poll = self.shared.settings.stacks.poll_seconds
        state = stack_policy.read(status)
        if state is Stack.ROLLING_BACK:
            not_ready(ctx, "RollingBack", stacks.progress(cfn, stack, entry.updated_at))
            raise RequeueAfter(poll, "stack rolling back")
        if state is Stack.CREATE_FAILED:
            self._create_failed(ctx, cfn, name, entry, stacks.failure(cfn, stack, entry.updated_at))
        if state is Stack.PROGRESSING:
            not_ready(ctx, "Progressing", stacks.progress(cfn, stack, entry.updated_at))
            raise RequeueAfter(poll, f"stack {status}")
        if state is Stack.FAILED:
            reason = stacks.failure(cfn, stack, entry.updated_at)
            not_ready(ctx, status.title().replace("_", ""), f"stack {name} is {status}: {reason}")
            raise ReconcileError(f"stack {name} is {status}: {reason}", reason="StackFailed")
        self._finished(ctx, cfn, stack, entry)
        if not stack.get("EnableTerminationProtection"):
            protect(cfn, name, enabled=True)
        outputs = stacks.outputs(stack)
        ctx.status.endpoint = outputs.get(key.API_ENDPOINT_OUTPUT) or ctx.status.endpoint
        if ctx.spec.dns.hosted_zone_id is None and outputs.get(key.HOSTED_ZONE_ID_OUTPUT):
            ctx.status.hosted_zone_id = outputs[key.HOSTED_ZONE_ID_OUTPUT]  # the zone the stack made: ours to sweep
        step = stack_policy.next_step(
            template_hash=entry.template_hash,
            digest=digest,
            failed_template=ctx.status.failed_template,
            changed=changed,
        )
        if step is Next.READY:
            drop_change_set(ctx, cfn, name)
            self._ready(ctx, entry)
        elif step is Next.FAILED_BEFORE:
            not_ready(ctx, "UpdateFailed", f"updating stack {name} failed: {entry.reason}")
            raise CancelReconcile
        elif step is Next.LOOK_AGAIN:
            raise RequeueAfter(poll, "stack changed again")
        else:
            change(ctx, self.shared, cfn, name, entry, body, digest)
            found = stacks.describe(cfn, name)
            if found is not None:
                self._follow(ctx, cfn, found, entry, body, digest, changed=True)

    def _finished(self, ctx: AWSContext, cfn: CloudFormationClient, stack: StackTypeDef, entry: StackStatus) -> None:
        """Book an operation that reached its final state (or a stack found without one: a restart's)."""
        operation, status = entry.operation, stack["StackStatus"]
        if operation is None:
            if entry.template_hash is None:  # made by a process that stopped before recording it
                entry.template_hash = self._current_hash(cfn, stack["StackName"])
            return
        succeeded = stack_policy.succeeded(status)
        metrics.finished(operation, succeeded, entry.updated_at)
        if succeeded:
            entry.template_hash = entry.pending_hash
            ctx.event("Normal", f"Stack{operation.capitalize()}d", f"stack {stack['StackName']}: {status}")
        else:
            reason = stacks.failure(cfn, stack, entry.updated_at)
            ctx.status.failed_template = entry.pending_hash
            entry.reason = reason
            ctx.event("Warning", "StackUpdateFailed", f"stack {stack['StackName']} rolled back: {reason}")
        entry.operation = entry.pending_hash = None

    @staticmethod
    def _current_hash(cfn: CloudFormationClient, name: str) -> str:
        return stacks.template_hash(stacks.canonical(stacks.current_template(cfn, name)))

    def _ready(self, ctx: AWSContext, entry: StackStatus) -> None:
        ctx.status.failed_template = None
        ctx.set_condition(
            CONDITION,
            "True",
            "StackComplete",
            f"stack {entry.name} is {entry.status} with the current template ({entry.template_hash})",
        )

    # -- deletion ------------------------------------------------------------------------------------------------
    def ensure_deleted(self, ctx: AWSContext) -> None:
        if not self.shared.has_account(ctx) or "stack" not in made(ctx):
            return  # no stack was ever made (nor about to be): nothing of it to look for, no call to make
        name = key.stack(ctx.name)
        entry = stack_entry(ctx, name)
        account = self.shared.account(ctx)
        cfn = account.client("cloudformation")
        poll = self.shared.settings.stacks.poll_seconds
        stack = stacks.describe(cfn, name)
        if stack is not None:
            if not check_owner(ctx, stacks.tag(stack, key.OWNER_TAG), f"CloudFormation stack {name}"):
                return
            status = entry.status = stack["StackStatus"]
            step = stack_policy.delete_step(status)
            if step is Delete.WAIT:
                raise RequeueAfter(poll, f"stack {status}: deleting after it")
            if step is Delete.RETRY:
                reason = stacks.failure(cfn, stack, entry.updated_at)
                ctx.event("Warning", "StackDeleteFailed", f"stack {name}: {reason}; trying again")
            if step in {Delete.DELETE, Delete.RETRY}:
                if entry.operation != "delete":
                    entry.operation, entry.updated_at = "delete", timestamps.stamp()
                self._delete_stack(cfn, stack)
                ctx.event("Normal", "StackDeleting", f"deleting stack {name}")
            stack = stacks.describe(cfn, name)
            if stack is not None:
                entry.status = stack["StackStatus"]
                raise RequeueAfter(poll, f"stack {name} {stack['StackStatus']}")
        own_zone = ctx.status.hosted_zone_id
        left = left_behind(account, ctx.name, claim(ctx), own_zone)
        if left:
            swept = sweep(account, ctx.name, claim(ctx), own_zone)
            if swept:
                ctx.event("Normal", "LeftoversRemoved", f"after stack {name}: {', '.join(swept[:20])}")
            left = left_behind(account, ctx.name, claim(ctx), own_zone)
        if left:
            raise ReconcileError(f"stack {name} is gone but left behind: {', '.join(left)}", reason="LeftBehind")
        if entry.operation == "delete":
            metrics.finished("delete", True, entry.updated_at)
            ctx.event("Normal", "StackDeleted", f"stack {name} and everything it made are gone")
        entry.operation, entry.status = None, "DELETE_COMPLETE"

    @staticmethod
    def _delete_stack(cfn: CloudFormationClient, stack: StackTypeDef) -> None:
        """Lift termination protection (ours to lift: the stack is claimed), then delete. An endpoint that cannot
        lift it (moto's server has no UpdateTerminationProtection, and does not enforce the protection either) is
        left to answer the DeleteStack: AWS refuses a protected stack's deletion, and that refusal is the error."""
        if stack.get("EnableTerminationProtection"):
            protect(cfn, stack["StackName"], enabled=False)
        call("cloudformation:DeleteStack", cfn.delete_stack, StackName=stack["StackName"])


def protect(cfn: CloudFormationClient, name: str, *, enabled: bool) -> None:
    """Termination protection on or off; an endpoint without the API (moto's server) is left as it is."""
    try:
        call(
            "cloudformation:UpdateTerminationProtection",
            cfn.update_termination_protection,
            StackName=name,
            EnableTerminationProtection=enabled,
        )
    except AWSError as exc:
        if exc.code not in UNSUPPORTED:
            raise
