"""CloudFormation, as the operator uses it: stacks read by name, claims read from their tags, progress and
failures read from their events, and change sets classified into what they would replace.

A change set's ``Replacement`` (when CloudFormation gives it) names resources replaced in place; a changed launch
template is what replaces *instances* — its Auto Scaling group rolls them — which CloudFormation does not call a
replacement. Both are listed. Masters are replaced only with approval: a change to the masters' launch template
or group that rolls them, or a replacement of anything they stand on (the VPC, subnets, security groups).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from aws_operator import key
from aws_operator.aws import AWSError, call
from operatorkit import timestamps

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudformation.type_defs import (
        ChangeTypeDef,
        DescribeChangeSetOutputTypeDef,
        StackEventTypeDef,
        StackResourceSummaryTypeDef,
        StackTypeDef,
    )

COMPLETE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"}
CREATE_FAILED = {"CREATE_FAILED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED"}
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


def template_hash(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def canonical(template: dict[str, Any]) -> str:
    """A template as :func:`aws_operator.templates.guest.render` writes it (compact, sorted keys)."""
    return json.dumps(template, sort_keys=True, separators=(",", ":"))


def current_template(cfn: CloudFormationClient, name: str) -> dict[str, Any]:
    # The stub says a dict; botocore gives a JSON template parsed, a YAML one as text.
    body: object = call("cloudformation:GetTemplate", cfn.get_template, StackName=name)["TemplateBody"]
    template: dict[str, Any] = json.loads(body) if isinstance(body, str) else cast("dict[str, Any]", body)
    return dict(template)


def describe(cfn: CloudFormationClient, name: str) -> StackTypeDef | None:
    """The stack, or None when there is none (a deleted stack is none: its name is free again)."""
    try:
        stacks = call("cloudformation:DescribeStacks", cfn.describe_stacks, StackName=name)["Stacks"]
    except AWSError as exc:
        if exc.code == "ValidationError" and "does not exist" in exc.aws_message:
            return None
        raise
    found = stacks[0] if stacks else None
    if found is None or found["StackStatus"] == "DELETE_COMPLETE":
        return None
    return found


def tag(stack: StackTypeDef, name: str) -> str | None:
    return next((t["Value"] for t in stack.get("Tags", []) if t["Key"] == name), None)


def outputs(stack: StackTypeDef) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}


def resources(cfn: CloudFormationClient, name: str) -> dict[str, StackResourceSummaryTypeDef]:
    """Logical id → the stack's resource summary (physical id, type, status)."""
    found: dict[str, StackResourceSummaryTypeDef] = {}
    token: str | None = None
    for _ in range(20):
        page = call(
            "cloudformation:ListStackResources",
            cfn.list_stack_resources,
            StackName=name,
            **({"NextToken": token} if token else {}),
        )
        found |= {r["LogicalResourceId"]: r for r in page["StackResourceSummaries"]}
        token = page.get("NextToken")
        if not token:
            break
    return found


def physical_ids(summaries: dict[str, StackResourceSummaryTypeDef], resource_type: str) -> dict[str, str]:
    """Logical id → physical id of the stack's resources of ``resource_type`` that have one: a resource still being
    created (or whose creation failed) has none yet, and ListStackResources then leaves the key out."""
    return {
        logical: physical
        for logical, summary in summaries.items()
        if summary["ResourceType"] == resource_type and (physical := summary.get("PhysicalResourceId"))
    }


def latest_events(cfn: CloudFormationClient, name: str, since: str | None) -> list[StackEventTypeDef]:
    """The stack's events since ``since`` (RFC 3339), newest first (one page: what a condition can show)."""
    events = call("cloudformation:DescribeStackEvents", cfn.describe_stack_events, StackName=name)["StackEvents"]
    if since:
        start = timestamps.parse(since)
        events = [e for e in events if e["Timestamp"] >= start - datetime.timedelta(seconds=1)]
    return list(events)


def failure(cfn: CloudFormationClient, stack: StackTypeDef, since: str | None) -> str:
    """CloudFormation's reason for a failed operation: its first failed resource, else the stack's reason."""
    events = latest_events(cfn, stack["StackName"], since)
    failed = [e for e in reversed(events) if e["ResourceStatus"].endswith("_FAILED") and e.get("ResourceStatusReason")]
    if failed:
        first = failed[0]
        return f"{first['LogicalResourceId']} ({first['ResourceType']}): {first['ResourceStatusReason']}"
    return str(stack.get("StackStatusReason") or stack["StackStatus"])


def progress(cfn: CloudFormationClient, stack: StackTypeDef, since: str | None) -> str:
    events = latest_events(cfn, stack["StackName"], since)
    if not events:
        return str(stack["StackStatus"])
    last = events[0]
    reason = f": {last['ResourceStatusReason']}" if last.get("ResourceStatusReason") else ""
    latest = f"{last['LogicalResourceId']} {last['ResourceStatus']}{reason}"
    return f"{stack['StackStatus']}, {len(events)} event(s); latest {latest}"


@dataclass
class Plan:
    """What a change set would do, in words."""

    changes: list[str] = field(default_factory=list)
    replaces: list[str] = field(default_factory=list)
    approval_required: bool = False


def classify(changes: Sequence[ChangeTypeDef], pools: dict[str, str]) -> Plan:
    """``pools``: a pool's logical-id prefix (:func:`aws_operator.key.pool_resources`) → its name."""
    plan = Plan()
    masters = key.MASTER_RESOURCES
    for change in changes:
        rc = change.get("ResourceChange") or {}
        action, logical, kind = rc.get("Action", "?"), rc.get("LogicalResourceId", "?"), rc.get("ResourceType", "?")
        replacement = rc.get("Replacement")
        plan.changes.append(f"{action} {logical} ({kind})" + (f" replacement={replacement}" if replacement else ""))
        if action == "Modify" and replacement in {"True", "Conditional"}:
            plan.replaces.append(f"{logical} ({kind})")
            if logical in masters or logical.startswith(key.FOUNDATION):
                plan.approval_required = True
        if logical in masters and action == "Remove":
            plan.approval_required = True
        if action == "Modify" and kind == "AWS::EC2::LaunchTemplate":
            if logical == key.launch_template(key.MASTERS):
                plan.replaces.append("master instances (rolled one at a time)")
                plan.approval_required = True
            else:
                prefix = logical.removesuffix(key.LAUNCH_TEMPLATE)
                plan.replaces.append(f"worker pool {pools.get(prefix, prefix)} instances (rolled one at a time)")
    return plan


def change_set_changes(cfn: CloudFormationClient, stack: str, change_set: str) -> DescribeChangeSetOutputTypeDef:
    """The change set's description with every page of its changes."""
    described = call(
        "cloudformation:DescribeChangeSet", cfn.describe_change_set, StackName=stack, ChangeSetName=change_set
    )
    changes = list(described.get("Changes", []))
    token = described.get("NextToken")
    for _ in range(20):
        if not token:
            break
        page = call(
            "cloudformation:DescribeChangeSet",
            cfn.describe_change_set,
            StackName=stack,
            ChangeSetName=change_set,
            NextToken=token,
        )
        changes += page.get("Changes", [])
        token = page.get("NextToken")
    return {**described, "Changes": changes}
