"""The cluster's KMS key (alias ``alias/kubeception/<id>``): certificates reach instances encrypted with it, and
the bucket encrypts with it at rest. At deletion it is scheduled for deletion (AWS waits at least 7 days), after
the stack and the bucket are gone — nothing encrypted with it is left to read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_operator import key
from aws_operator.aws import AWSError, call
from aws_operator.resources._external import check_owner, claim_tags, recreate_requested, report_lost, require_owner
from aws_operator.spec import AWSConfigSpec, AWSConfigStatus
from operatorkit import ReconcileError, Resource

if TYPE_CHECKING:
    from aws_operator.shared import Shared
    from aws_operator.spec import AWSContext


def describe(kms: Any, alias: str) -> dict[str, Any] | None:
    try:
        return dict(call("kms:DescribeKey", kms.describe_key, KeyId=alias)["KeyMetadata"])
    except AWSError as exc:
        if exc.code == "NotFoundException":
            return None
        raise


def owner_tag(kms: Any, key_id: str) -> str | None:
    tags = call("kms:ListResourceTags", kms.list_resource_tags, KeyId=key_id).get("Tags", [])
    return next((t["TagValue"] for t in tags if t["TagKey"] == key.OWNER_TAG), None)


@dataclass
class EncryptionKey(Resource[AWSConfigSpec, AWSConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: AWSContext) -> None:
        if ctx.status.get("keyARN") and not recreate_requested(ctx, "key"):
            return  # the drift check looks at it periodically
        kms = self.shared.account(ctx).client("kms")
        alias = key.key_alias(ctx.spec.cluster_id)
        found = describe(kms, alias)
        if found is not None:
            require_owner(ctx, owner_tag(kms, found["KeyId"]), f"KMS key {alias}")
            if found.get("KeyState") not in {"Enabled"}:
                if ctx.status.get("keyARN") == found["Arn"]:
                    report_lost(ctx, "key", f"KMS key {alias} is {found.get('KeyState')}")
                raise ReconcileError(f"KMS key {alias} is {found.get('KeyState')}", reason="KeyUnusable")
        else:
            if ctx.recorded.key_arn and not recreate_requested(ctx, "key"):
                report_lost(ctx, "key", f"KMS key {ctx.recorded.key_arn} ({alias}) no longer exists")
            found = self._create(ctx, kms, alias)
        ctx.status["keyARN"] = found["Arn"]

    def _create(self, ctx: AWSContext, kms: Any, alias: str) -> dict[str, Any]:
        made = call(
            "kms:CreateKey",
            kms.create_key,
            Description=f"kubeception cluster {ctx.spec.cluster_id}: certificates and boot configuration",
            KeyUsage="ENCRYPT_DECRYPT",
            Tags=[{"TagKey": k, "TagValue": v} for k, v in claim_tags(ctx).items()],
        )["KeyMetadata"]
        try:
            call("kms:CreateAlias", kms.create_alias, AliasName=alias, TargetKeyId=made["KeyId"])
        except AWSError:
            # Without its alias nobody would find it again: nothing issued that is not stored.
            self._schedule(kms, made["KeyId"])
            raise
        ctx.event("Normal", "KeyCreated", f"KMS key {made['Arn']} ({alias})")
        return dict(made)

    def ensure_deleted(self, ctx: AWSContext) -> None:
        if not self.shared.has_account(ctx) or not ctx.status.get("keyARN"):
            return
        kms = self.shared.account(ctx).client("kms")
        alias = key.key_alias(ctx.name)
        found = describe(kms, alias)
        if found is None:
            found = describe(kms, ctx.status["keyARN"])
            if found is None or found.get("KeyState") == "PendingDeletion":
                return
        if not check_owner(ctx, owner_tag(kms, found["KeyId"]), f"KMS key {alias}"):
            return
        if found.get("KeyState") != "PendingDeletion":
            self._schedule(kms, found["KeyId"], self.shared.settings.stacks.key_deletion_days)
            ctx.event("Normal", "KeyScheduledForDeletion", f"KMS key {found['Arn']}")
        if describe(kms, alias) is not None:
            call("kms:DeleteAlias", kms.delete_alias, AliasName=alias)
        state = (describe(kms, found["KeyId"]) or {}).get("KeyState")
        if state not in {None, "PendingDeletion"}:
            raise ReconcileError(f"KMS key {found['Arn']} is {state} after its deletion was scheduled")

    @staticmethod
    def _schedule(kms: Any, key_id: str, days: int = 7) -> None:
        call("kms:ScheduleKeyDeletion", kms.schedule_key_deletion, KeyId=key_id, PendingWindowInDays=days)
