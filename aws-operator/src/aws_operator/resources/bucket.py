"""The cluster's S3 bucket: the encrypted certificates and the boot configurations instances fetch. Private (all
public access blocked), encrypted at rest with the cluster's key, tagged with the claim. Bucket names are global:
a name taken by another account is refused with a condition, never worked around."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from aws_operator import key
from aws_operator.aws import AWSError, call
from aws_operator.resources._external import (
    check_owner,
    claim_tags,
    made,
    record_made,
    recreate_requested,
    report_lost,
    require_owner,
    tag_list,
)
from aws_operator.spec import AWSConfigSpec, AWSConfigStatus
from operatorkit import NotOwned, ReconcileError, Resource, required

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType

    from aws_operator.shared import Shared
    from aws_operator.spec import AWSContext


def exists(s3: S3Client, bucket: str) -> bool:
    """True when the bucket exists and is this account's; False when there is none; NotOwned when another account
    has the name."""
    try:
        call("s3:HeadBucket", s3.head_bucket, Bucket=bucket)
    except AWSError as exc:
        if exc.code in {"404", "NoSuchBucket", "NotFound"}:
            return False
        if exc.code in {"403", "AccessDenied"}:
            raise NotOwned(f"S3 bucket {bucket} belongs to another AWS account; it is left untouched") from exc
        raise
    return True


def owner_tag(s3: S3Client, bucket: str) -> str | None:
    try:
        tags = call("s3:GetBucketTagging", s3.get_bucket_tagging, Bucket=bucket)["TagSet"]
    except AWSError as exc:
        if exc.code == "NoSuchTagSet":
            return None
        raise
    return next((t["Value"] for t in tags if t["Key"] == key.OWNER_TAG), None)


def our_bucket(ctx: AWSContext, shared: Shared) -> str | None:
    """At deletion: the name of the bucket this AWSConfig made (or was about to make), None when it made none —
    then nothing is looked for. The name is derived when a stopped process did not record it."""
    if not shared.has_account(ctx) or "bucket" not in made(ctx):
        return None
    status = ctx.status
    return status.bucket or key.bucket(ctx.name, required(status.account, "account"), required(status.region, "region"))


@dataclass
class Bucket(Resource[AWSConfigSpec, AWSConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: AWSContext) -> None:
        if ctx.status.bucket and not recreate_requested(ctx, "bucket"):
            return  # the drift check looks at it periodically
        account = self.shared.account(ctx)
        s3 = account.client("s3")
        name = key.bucket(ctx.spec.cluster_id, account.account_id, ctx.spec.region)
        if exists(s3, name):
            require_owner(ctx, owner_tag(s3, name), f"S3 bucket {name}")
            record_made(ctx, "bucket")
        else:
            if ctx.recorded.bucket and not recreate_requested(ctx, "bucket"):
                raise report_lost(ctx, "bucket", f"S3 bucket {ctx.recorded.bucket} no longer exists")
            self._create(ctx, s3, name)
            ctx.status.uploaded = {}  # a new bucket holds nothing yet
        ctx.status.bucket = name

    def _create(self, ctx: AWSContext, s3: S3Client, name: str) -> None:
        region = ctx.spec.region
        record_made(ctx, "bucket", before_call=True)
        if region == "us-east-1":  # the default location: S3 refuses a constraint naming it
            call("s3:CreateBucket", s3.create_bucket, Bucket=name)
        else:
            call(
                "s3:CreateBucket",
                s3.create_bucket,
                Bucket=name,
                CreateBucketConfiguration={"LocationConstraint": cast("BucketLocationConstraintType", region)},
            )
        call("s3:PutBucketTagging", s3.put_bucket_tagging, Bucket=name, Tagging={"TagSet": tag_list(claim_tags(ctx))})
        call(
            "s3:PutPublicAccessBlock",
            s3.put_public_access_block,
            Bucket=name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        call(
            "s3:PutBucketEncryption",
            s3.put_bucket_encryption,
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": required(ctx.status.key_arn, "keyARN"),
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
        ctx.event("Normal", "BucketCreated", f"S3 bucket {name}")

    def ensure_deleted(self, ctx: AWSContext) -> None:
        name = our_bucket(ctx, self.shared)
        if name is None:
            return
        s3 = self.shared.account(ctx).client("s3")
        if not exists(s3, name) or not check_owner(ctx, owner_tag(s3, name), f"S3 bucket {name}"):
            return
        left = call("s3:ListObjectsV2", s3.list_objects_v2, Bucket=name, MaxKeys=10).get("KeyCount", 0)
        if left:
            raise ReconcileError(f"S3 bucket {name} still holds {left} object(s)", reason="BucketNotEmpty")
        call("s3:DeleteBucket", s3.delete_bucket, Bucket=name)
        if exists(s3, name):
            raise ReconcileError(f"S3 bucket {name} is still there after its deletion", reason="BucketNotDeleted")
        ctx.event("Normal", "BucketDeleted", f"S3 bucket {name}")
