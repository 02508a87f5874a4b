"""What instances fetch from the bucket: each certificate (with its key and the CA), encrypted with the cluster's
KMS key, and the Ignition config of each role (masters, each worker pool).

Uploaded only when the content changes: status ``uploaded`` records each object's source — a certificate's serial,
a config's hash — so an unchanged cluster costs no AWS call and no Secret read here. A renewed certificate (a new
serial from cert-operator) is read and uploaded again. At deletion the bucket is emptied (after the stack, whose
instances read it, is gone)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_operator import bootconfig, envelope, key
from aws_operator.aws import call
from aws_operator.resources._external import check_owner
from aws_operator.resources.bucket import exists, our_bucket, owner_tag
from aws_operator.spec import AWSConfigSpec, AWSConfigStatus
from guestkit import CERT_CONFIG
from operatorkit import READY, CancelReconcile, ReconcileError, Resource, is_true, required
from operatorkit.kinds import SECRET

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

    from aws_operator.shared import Shared
    from aws_operator.spec import AWSContext

CONDITION = "CertificatesDelivered"


def encryption_context(cluster_id: str, obj: str) -> dict[str, str]:
    """Bound into each ciphertext: a certificate decrypts only as the object it was uploaded as."""
    return {key.CLUSTER_TAG: cluster_id, "object": obj}


def boot_configs(ctx: AWSContext, shared: Shared) -> dict[str, bytes]:
    """Object → Ignition config, for the masters and every worker pool."""
    spec, zone = ctx.spec, shared.zone(ctx)
    common = {
        "cluster_id": spec.cluster_id,
        "kubernetes_version": spec.kubernetes_version,
        "api_hostname": f"api.{zone}",
        "bucket": required(ctx.status.bucket, "bucket"),
        "key_arn": required(ctx.status.key_arn, "keyARN"),
    }
    configs = {
        key.boot_object("master"): bootconfig.render(
            bootconfig.NodeFacts(role="master", labels={}, taints=[], certificates=key.MASTER_CERTIFICATES, **common)
        )
    }
    for pool in spec.worker_pools:
        role = f"worker-{pool.name}"
        facts = bootconfig.NodeFacts(
            role=role,
            labels={**pool.labels, "kubeception.io/pool": pool.name},
            taints=[f"{t.key}={t.value}:{t.effect}" for t in pool.taints],
            certificates=key.WORKER_CERTIFICATES,
            **common,
        )
        configs[key.boot_object(role)] = bootconfig.render(facts)
    return configs


@dataclass
class CertificateObjects(Resource[AWSConfigSpec, AWSConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: AWSContext) -> None:
        namespace = key.namespace(ctx.spec.cluster_id)
        serials: dict[str, str] = {}
        for name in key.CERTIFICATES:
            found = ctx.cache(CERT_CONFIG).get_by_name(name, namespace)
            serial = ((found or {}).get("status") or {}).get("serial")
            if found is not None and serial and is_true(found.get("status"), "Ready"):
                serials[name] = serial
        missing = [name for name in key.CERTIFICATES if name not in serials]
        if missing:
            message = f"waiting for cert-operator to issue {len(missing)} certificate(s): {', '.join(missing[:4])}"
            ctx.set_condition(CONDITION, "False", "WaitingForCertificates", message)
            ctx.set_condition(READY, "False", "WaitingForCertificates", message)
            raise CancelReconcile  # the CertConfigs' changes bring the cluster back
        uploaded = dict(ctx.status.uploaded)
        wanted: dict[str, tuple[str, Any]] = {
            key.certificate_object(name): (serial, name) for name, serial in serials.items()
        }
        wanted |= {
            obj: (bootconfig.digest(content), content) for obj, content in boot_configs(ctx, self.shared).items()
        }
        changed = [obj for obj, (source, _) in wanted.items() if uploaded.get(obj) != source]
        stale = [obj for obj in uploaded if obj not in wanted]
        if changed or stale:
            account = self.shared.account(ctx)
            s3, kms, bucket = account.client("s3"), account.client("kms"), required(ctx.status.bucket, "bucket")
            for obj in changed:
                source, what = wanted[obj]
                body = self._encrypted(ctx, kms, obj, what) if obj.startswith("certificates/") else what
                call(
                    "s3:PutObject",
                    s3.put_object,
                    Bucket=bucket,
                    Key=obj,
                    Body=body,
                    ServerSideEncryption="aws:kms",
                    SSEKMSKeyId=required(ctx.status.key_arn, "keyARN"),
                    Metadata={"source": source},
                )
                uploaded[obj] = source
            for obj in stale:
                call("s3:DeleteObject", s3.delete_object, Bucket=bucket, Key=obj)
                uploaded.pop(obj)
            ctx.status.uploaded = uploaded
            ctx.event("Normal", "ObjectsUploaded", f"s3://{bucket}: {len(changed)} uploaded, {len(stale)} removed")
        ctx.set_condition(
            CONDITION,
            "True",
            "Uploaded",
            f"{len(serials)} certificates encrypted with {ctx.status.key_arn} and "
            f"{len(wanted) - len(serials)} boot configs in s3://{ctx.status.bucket}, each as its source now is",
        )

    def _encrypted(self, ctx: AWSContext, kms: KMSClient, obj: str, name: str) -> bytes:
        secret = ctx.client.get(SECRET, name, key.namespace(ctx.spec.cluster_id))
        data = secret.get("data") or {}
        bundle = json.dumps({k: data.get(k, "") for k in ("tls.crt", "tls.key", "ca.crt")}).encode()
        return envelope.seal(
            kms, required(ctx.status.key_arn, "keyARN"), bundle, encryption_context(ctx.spec.cluster_id, obj)
        )

    def ensure_deleted(self, ctx: AWSContext) -> None:
        bucket = our_bucket(ctx, self.shared)
        if bucket is None:
            return
        s3 = self.shared.account(ctx).client("s3")
        if not exists(s3, bucket) or not check_owner(ctx, owner_tag(s3, bucket), f"S3 bucket {bucket}"):
            return
        for _ in range(1000):  # a thousand objects per round: far more than a cluster's bucket holds
            listed = call("s3:ListObjectsV2", s3.list_objects_v2, Bucket=bucket, MaxKeys=1000).get("Contents", [])
            if not listed:
                break
            call(
                "s3:DeleteObjects",
                s3.delete_objects,
                Bucket=bucket,
                Delete={"Objects": [{"Key": o["Key"]} for o in listed], "Quiet": True},
            )
        ctx.status.uploaded = {}
        left = call("s3:ListObjectsV2", s3.list_objects_v2, Bucket=bucket, MaxKeys=1).get("KeyCount", 0)
        if left:
            raise ReconcileError(f"S3 bucket {bucket} not empty after emptying it", reason="BucketNotEmpty")
