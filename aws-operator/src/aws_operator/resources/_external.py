"""Claims on state in the guest account, and what happens when that state vanished.

Everything the operator makes in AWS carries the owning AWSConfig's identity as the tag ``kubeception.io/owner``
(operatorkit's claim text). Nothing is written or deleted without that claim naming this AWSConfig. State that was
made (the status recorded it) and is gone is reported — a ``StateLost`` condition, a Warning, a metric an alert
watches — and made again only when the AWSConfig carries ``kubeception.io/recreate: <what>`` (``stack``,
``bucket``, ``key``, or a comma-separated list).

What may have been made is recorded in ``status.made`` before the call that makes it, written at once (a
write-ahead record): deletion looks in AWS only for what is recorded there, so an AWSConfig that never made anything
(refused, its account or region unusable) makes no AWS call at its deletion and goes at once, and a process stopped
between making something and writing the rest of the status still leaves a record for deletion to find it by.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

import operatorkit
from aws_operator import key, metrics
from aws_operator.spec import AWS_CONFIG
from operatorkit import READY, NotOwned, Owner, ReconcileError, check_claim

if TYPE_CHECKING:
    from aws_operator.spec import AWSContext, Made

LOST = "StateLost"
MADE: tuple[Made, ...] = ("key", "bucket", "stack")


def claim(ctx: AWSContext) -> str:
    """This AWSConfig's claim, in the characters every AWS tag accepts."""
    return ctx.owner.encode_tag()


def claim_tags(ctx: AWSContext) -> dict[str, str]:
    return {key.OWNER_TAG: claim(ctx), key.CLUSTER_TAG: ctx.name}


class Tag(TypedDict):
    """A tag as CloudFormation, S3 and IAM take it (each service's stub declares the same two keys)."""

    Key: str
    Value: str


def tag_list(tags: dict[str, str]) -> list[Tag]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def check_owner(ctx: AWSContext, recorded: str | None, what: str) -> bool:
    """True when this AWSConfig holds the claim, False when nothing is claimed; raises :class:`NotOwned`
    (with a Ready condition naming the holder) otherwise."""
    holder = Owner.decode(recorded)
    exists = False
    if holder is not None:
        found = ctx.cache(AWS_CONFIG).get_by_name(holder.name, holder.namespace)
        exists = found is not None and found["metadata"].get("uid") == holder.uid
    try:
        return check_claim(recorded, what, ctx.obj, owner_exists=exists)
    except NotOwned as exc:
        ctx.set_condition(READY, "False", "NotOwned", str(exc))
        raise


def require_owner(ctx: AWSContext, recorded: str | None, what: str) -> None:
    """Before writing: this AWSConfig's claim, or a refusal — state that exists unclaimed was made by someone else
    and is not adopted."""
    if not check_owner(ctx, recorded, what):
        message = f"{what} exists and was not created by kubeception; it is left untouched"
        ctx.set_condition(READY, "False", "NotOwned", message)
        raise NotOwned(message)


def recreate_requested(ctx: AWSContext, what: str) -> bool:
    wanted = ctx.annotations.get(key.RECREATE_ANNOTATION, "")
    return what in {part.strip() for part in wanted.split(",")}


def report_lost(ctx: AWSContext, what: str, message: str) -> ReconcileError:
    """``what`` (stack, bucket, key) existed and is gone: :func:`operatorkit.report_lost` under ``StateLost``, and
    the metric. Its contract: the error is returned — a step that needs the state raises it, drift reports and goes
    on."""
    text = f"{message}; it is not recreated by itself (annotate {key.RECREATE_ANNOTATION}={what} to make a new one)"
    metrics.state_lost.labels(ctx.namespace or "", ctx.name).set(1)
    return operatorkit.report_lost(ctx, LOST, f"{what.capitalize()}Lost", text)


def not_lost(ctx: AWSContext) -> None:
    operatorkit.clear_lost(ctx, LOST, "Present", "the cluster's stack, bucket and key exist")
    metrics.state_lost.labels(ctx.namespace or "", ctx.name).set(0)


def made(ctx: AWSContext) -> set[str]:
    """What this AWSConfig may have made in its account (of :data:`MADE`): what ``status.made`` records — and, for a
    status of an earlier version, what its key, bucket and stack entries show was made."""
    status = ctx.status
    found = {str(what) for what in status.made}
    if status.key_arn:
        found.add("key")
    if status.bucket:
        found.add("bucket")
    if any(entry.template_hash or entry.operation for entry in status.stacks):
        found.add("stack")
    return found


def record_made(ctx: AWSContext, what: Made, *, before_call: bool = False) -> None:
    """Record that ``what`` is (or, ``before_call``, is about to be) this AWSConfig's in its account. Before a call
    that makes it the status is written at once, so no crash can hide what the call made from deletion."""
    recorded = ctx.status.made
    if what in recorded:
        return
    recorded.append(what)
    if before_call:
        ctx.save_status()
