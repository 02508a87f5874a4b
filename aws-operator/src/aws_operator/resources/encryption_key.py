"""The cluster's KMS key (alias ``alias/kubeception/<id>``): certificates reach instances encrypted with it, and
the bucket encrypts with it at rest. At deletion it is scheduled for deletion (AWS waits at least 7 days), after
the stack and the bucket are gone — nothing encrypted with it is left to read.

CreateKey has no idempotency token, and the alias is a second call: an operator stopped between the two leaves a
key only its claim tag finds. Before a first key is made the account's keys are listed for one carrying this
AWSConfig's claim, which is taken (its alias added); at deletion every key with the claim is scheduled, so no
key issued is left unaccounted for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_operator import key
from aws_operator.aws import AWSError, call
from aws_operator.resources._external import (
    check_owner,
    claim,
    claim_tags,
    made,
    record_made,
    recreate_requested,
    report_lost,
    require_owner,
)
from aws_operator.spec import AWSConfigSpec, AWSConfigStatus
from operatorkit import ReconcileError, Resource

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_kms.type_defs import KeyMetadataTypeDef

    from aws_operator.shared import Shared
    from aws_operator.spec import AWSContext


def describe(kms: KMSClient, alias: str) -> KeyMetadataTypeDef | None:
    try:
        return call("kms:DescribeKey", kms.describe_key, KeyId=alias)["KeyMetadata"]
    except AWSError as exc:
        if exc.code == "NotFoundException":
            return None
        raise


def owner_tag(kms: KMSClient, key_id: str) -> str | None:
    tags = call("kms:ListResourceTags", kms.list_resource_tags, KeyId=key_id).get("Tags", [])
    return next((t["TagValue"] for t in tags if t["TagKey"] == key.OWNER_TAG), None)


def claimed_keys(kms: KMSClient, claim: str) -> list[KeyMetadataTypeDef]:
    """The account's keys carrying ``claim`` and not yet pending deletion, aliased or not."""
    found: list[KeyMetadataTypeDef] = []
    marker: str | None = None
    while True:
        page = call("kms:ListKeys", kms.list_keys, Marker=marker) if marker else call("kms:ListKeys", kms.list_keys)
        for entry in page.get("Keys", []):
            try:
                ours = key.same_owner(owner_tag(kms, entry["KeyId"]), claim)
            except AWSError:
                continue  # a key whose tags this role may not read (AWS-managed, another party's): not ours
            meta = describe(kms, entry["KeyId"]) if ours else None
            if meta is not None and meta.get("KeyState") != "PendingDeletion":
                found.append(meta)
        if not page.get("Truncated"):
            return found
        marker = page["NextMarker"]


@dataclass
class EncryptionKey(Resource[AWSConfigSpec, AWSConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: AWSContext) -> None:
        if ctx.status.key_arn and not recreate_requested(ctx, "key"):
            return  # the drift check looks at it periodically
        kms = self.shared.account(ctx).client("kms")
        alias = key.key_alias(ctx.spec.cluster_id)
        found = describe(kms, alias)
        if found is not None:
            require_owner(ctx, owner_tag(kms, found["KeyId"]), f"KMS key {alias}")
            record_made(ctx, "key")
            if found.get("KeyState") not in {"Enabled"}:
                if ctx.status.key_arn == found["Arn"]:
                    raise report_lost(ctx, "key", f"KMS key {alias} is {found.get('KeyState')}")
                raise ReconcileError(f"KMS key {alias} is {found.get('KeyState')}", reason="KeyUnusable")
        else:
            if ctx.recorded.key_arn and not recreate_requested(ctx, "key"):
                raise report_lost(ctx, "key", f"KMS key {ctx.recorded.key_arn} ({alias}) no longer exists")
            found = self._unaliased(ctx, kms, alias) or self._create(ctx, kms, alias)
        ctx.status.key_arn = found["Arn"]

    def _unaliased(self, ctx: AWSContext, kms: KMSClient, alias: str) -> KeyMetadataTypeDef | None:
        """A key this AWSConfig made before its alias was: taken, so a stopped operator does not make a second."""
        if ctx.recorded.key_arn:
            return None  # a key was made and aliased: it was lost, not interrupted
        for found in claimed_keys(kms, claim(ctx)):
            if found.get("KeyState") == "Enabled":
                record_made(ctx, "key")
                call("kms:CreateAlias", kms.create_alias, AliasName=alias, TargetKeyId=found["KeyId"])
                ctx.event("Normal", "KeyResumed", f"KMS key {found['Arn']} made before a restart, now {alias}")
                return found
        return None

    def _create(self, ctx: AWSContext, kms: KMSClient, alias: str) -> KeyMetadataTypeDef:
        record_made(ctx, "key", before_call=True)
        created = call(
            "kms:CreateKey",
            kms.create_key,
            Description=f"kubeception cluster {ctx.spec.cluster_id}: certificates and boot configuration",
            KeyUsage="ENCRYPT_DECRYPT",
            Tags=[{"TagKey": k, "TagValue": v} for k, v in claim_tags(ctx).items()],
        )["KeyMetadata"]
        try:
            call("kms:CreateAlias", kms.create_alias, AliasName=alias, TargetKeyId=created["KeyId"])
        except AWSError:
            # Without its alias nobody would find it again: nothing issued that is not stored.
            self._schedule(kms, created["KeyId"])
            raise
        ctx.event("Normal", "KeyCreated", f"KMS key {created['Arn']} ({alias})")
        return created

    def ensure_deleted(self, ctx: AWSContext) -> None:
        if not self.shared.has_account(ctx) or "key" not in made(ctx):
            return  # no key was ever made (nor about to be): nothing to look for
        kms = self.shared.account(ctx).client("kms")
        alias = key.key_alias(ctx.name)
        found = describe(kms, alias)
        if found is not None and not check_owner(ctx, owner_tag(kms, found["KeyId"]), f"KMS key {alias}"):
            return
        days = self.shared.settings.stacks.key_deletion_days
        scheduled = claimed_keys(kms, claim(ctx))  # the aliased key, and any made before a restart
        for claimed in scheduled:
            self._schedule(kms, claimed["KeyId"], days)
            ctx.event("Normal", "KeyScheduledForDeletion", f"KMS key {claimed['Arn']}")
        if found is not None:
            call("kms:DeleteAlias", kms.delete_alias, AliasName=alias)
        for claimed in scheduled:
            described = describe(kms, claimed["KeyId"])
            state = None if described is None else described.get("KeyState")
            if state not in {None, "PendingDeletion"}:
                raise ReconcileError(f"KMS key {claimed['Arn']} is {state} after its deletion was scheduled")

    @staticmethod
    def _schedule(kms: KMSClient, key_id: str, days: int = 7) -> None:
        call("kms:ScheduleKeyDeletion", kms.schedule_key_deletion, KeyId=key_id, PendingWindowInDays=days)
