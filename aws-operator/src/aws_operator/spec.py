"""The AWSConfig custom resource: one guest cluster on AWS, in an AWS account of its own (reached by assuming a
role), as CloudFormation stacks.

Namespaced like the KVMConfig and named after its cluster id; the id is unique across the mother because the
cluster's namespace ``<clusterID>`` (holding its PKI) is owned by exactly one cluster object, of either kind.
Every user-supplied field has a type, a size limit and a format here and in the CRD, so bad input is refused at
admission or becomes a condition — never a template CloudFormation fails on halfway.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Annotated, Literal

import pydantic

from guestkit import MAX_LABELS, MAX_TAINTS, ClusterID, GuestClusterStatus, NodeLabels, Taint
from operatorkit import DNS_LABEL, DOMAIN, Context, Kind, LabelValue

if TYPE_CHECKING:
    from operatorkit import Object

AWS_CONFIG = Kind("kubeception.io/v1alpha1", "AWSConfig", "awsconfigs")
MAX_POOLS = 10
MAX_POOL_SIZE = 100
_VERSION = r"^1\.[0-9]{1,3}\.[0-9]{1,3}$"
_REGION = r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$"
_ZONE = r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}[a-z]$"
_INSTANCE_TYPE = r"^[a-z][a-z0-9-]{0,15}\.[a-z0-9]{1,15}$"
_HOSTED_ZONE_ID = r"^Z[A-Z0-9]{1,31}$"
ROLE_ARN = re.compile(r"^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")

InstanceType = Annotated[str, pydantic.Field(pattern=_INSTANCE_TYPE, max_length=32)]


class _Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Masters(_Model):
    instance_type: InstanceType = pydantic.Field(default="m5.large", alias="instanceType")
    replicas: Literal[1, 3] = 1
    """1, or 3 spread over the availability zones (etcd quorum)."""


class WorkerPool(_Model):
    """An Auto Scaling group of workers of one instance type. Changing the type replaces the pool's instances
    (a rolling update, one at a time); changing the sizes only scales."""

    name: str = pydantic.Field(pattern=DNS_LABEL, max_length=20)
    instance_type: InstanceType = pydantic.Field(default="m5.large", alias="instanceType")
    min_size: int = pydantic.Field(default=1, ge=0, le=MAX_POOL_SIZE, alias="minSize")
    max_size: int = pydantic.Field(default=3, ge=0, le=MAX_POOL_SIZE, alias="maxSize")
    desired: int = pydantic.Field(default=1, ge=0, le=MAX_POOL_SIZE)
    labels: NodeLabels = pydantic.Field(default_factory=dict, max_length=MAX_LABELS)
    taints: list[Taint] = pydantic.Field(default_factory=list, max_length=MAX_TAINTS)

    @pydantic.model_validator(mode="after")
    def _sizes(self) -> WorkerPool:
        if not self.min_size <= self.desired <= self.max_size:
            raise ValueError(
                f"worker pool {self.name}: need minSize <= desired <= maxSize, got "
                f"{self.min_size} <= {self.desired} <= {self.max_size}"
            )
        return self


class DNS(_Model):
    """Where the guest's names live: ``api.<zone>`` (the API load balancer) and ``*.<zone>`` (the ingress one)."""

    zone: str | None = pydantic.Field(default=None, pattern=DOMAIN, max_length=200)
    """Default ``<clusterID>.<base domain>`` (the operator's setting)."""
    hosted_zone_id: str | None = pydantic.Field(
        default=None, alias="hostedZoneID", pattern=_HOSTED_ZONE_ID, max_length=32
    )
    """An existing Route 53 zone of the guest account for ``zone``; unset, the stack creates the zone."""


class Credentials(_Model):
    secret_name: str = pydantic.Field(alias="secretName", pattern=DNS_LABEL, max_length=253)
    """A Secret in this AWSConfig's namespace whose ``roleARN`` names the role to assume in the guest's account."""


class AWSConfigSpec(_Model):
    cluster_id: ClusterID = pydantic.Field(alias="clusterID")
    """The cluster's id: its namespace on the mother, and the name of its stacks, bucket and key. Immutable."""
    organization: LabelValue = ""
    team: LabelValue = ""
    region: str = pydantic.Field(pattern=_REGION, max_length=25)
    availability_zones: list[Annotated[str, pydantic.Field(pattern=_ZONE, max_length=26)]] = pydantic.Field(
        alias="availabilityZones", min_length=1, max_length=3
    )
    vpc_cidr: ipaddress.IPv4Network | None = pydantic.Field(default=None, alias="vpcCIDR")
    """Allocated from the operator's pool when unset; never overlapping another cluster's or the mother's."""
    kubernetes_version: str = pydantic.Field(alias="kubernetesVersion", pattern=_VERSION, max_length=16)
    masters: Masters = Masters()
    worker_pools: list[WorkerPool] = pydantic.Field(default_factory=list, alias="workerPools", max_length=MAX_POOLS)
    dns: DNS = DNS()
    credentials: Credentials

    @pydantic.field_validator("vpc_cidr")
    @classmethod
    def _vpc_size(cls, value: ipaddress.IPv4Network | None) -> ipaddress.IPv4Network | None:
        if value is not None and not 16 <= value.prefixlen <= 24:
            raise ValueError("vpcCIDR must be a /16 to /24 network (AWS allows /16 to /28; subnets need room)")
        return value

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> AWSConfigSpec:
        zones = self.availability_zones
        if len(zones) != len(set(zones)):
            raise ValueError("availabilityZones must be unique")
        foreign = [zone for zone in zones if zone[:-1] != self.region]
        if foreign:
            raise ValueError(f"availabilityZones {foreign} are not in region {self.region}")
        names = [pool.name for pool in self.worker_pools]
        if len(names) != len(set(names)):
            raise ValueError("workerPools names must be unique")
        return self


class _StatusPart(pydantic.BaseModel):
    """A part of the status: changed in place by the resources (not frozen, unlike the spec's parts)."""

    model_config = pydantic.ConfigDict(extra="forbid", populate_by_name=True)


Made = Literal["key", "bucket", "stack"]
"""What an AWSConfig makes in its account and records in ``status.made``."""


class StackStatus(_StatusPart):
    name: str
    status: str | None = None
    reason: str | None = None
    template_hash: str | None = pydantic.Field(default=None, alias="templateHash")
    """The template the stack last completed with (what the next change is compared against)."""
    operation: Literal["create", "update", "delete"] | None = None
    """The operation under way, until the stack reaches a final state."""
    pending_hash: str | None = pydantic.Field(default=None, alias="pendingHash")
    """The template that operation applies."""
    updated_at: str | None = pydantic.Field(default=None, alias="updatedAt")
    """When the last operation started (RFC 3339)."""


class ChangeSetStatus(_StatusPart):
    name: str
    template_hash: str = pydantic.Field(alias="templateHash")
    changes: list[str] = pydantic.Field(default_factory=list, max_length=64)
    """``Action LogicalId (Type)`` per change, as CloudFormation listed them."""
    replaces: list[str] = pydantic.Field(default_factory=list, max_length=64)
    """What executing it replaces: resources CloudFormation replaces, instances a launch template change rolls."""
    approval_required: bool = pydantic.Field(default=False, alias="approvalRequired")


class PoolStatus(_StatusPart):
    name: str
    desired: int = 0
    in_service: int = pydantic.Field(default=0, alias="inService")


class AWSConfigStatus(GuestClusterStatus):  # clusterID, version, endpoint, workers, kubeconfig: the kit's
    account: str | None = None
    role_arn: str | None = pydantic.Field(default=None, alias="roleARN")
    """The role assumed at creation: deletion uses it even if the credentials Secret is gone."""
    region: str | None = None
    vpc_cidr: str | None = pydantic.Field(default=None, alias="vpcCIDR")
    key_arn: str | None = pydantic.Field(default=None, alias="keyARN")
    bucket: str | None = None
    uploaded: dict[str, str] = pydantic.Field(default_factory=dict)
    """Object → what it was rendered from (a certificate's serial, a boot config's hash): uploaded only on change."""
    made: list[Made] = pydantic.Field(default_factory=list, max_length=3)
    """What may have been made in the account: recorded (and written) before the call that makes it; deletion looks
    only for these, so an AWSConfig that never made anything deletes without an AWS call."""
    stacks: list[StackStatus] = pydantic.Field(default_factory=list)
    change_set: ChangeSetStatus | None = pydantic.Field(default=None, alias="changeSet")
    failed_template: str | None = pydantic.Field(default=None, alias="failedTemplate")
    """The template hash whose creation failed: not tried again until the spec changes."""
    hosted_zone_id: str | None = pydantic.Field(default=None, alias="hostedZoneID")
    """The Route 53 zone the stack made (none when the spec names one)."""
    masters: str | None = None
    """``inService/desired`` masters, for the printer column."""
    worker_pools: list[PoolStatus] = pydantic.Field(default_factory=list, alias="workerPools")
    drift_checked_at: str | None = pydantic.Field(default=None, alias="driftCheckedAt")
    ready_at: str | None = pydantic.Field(default=None, alias="readyAt")


AWSContext = Context[AWSConfigSpec, AWSConfigStatus]


def deletion_spec(obj: Object) -> AWSConfigSpec:
    """What a deletion reads when the stored spec no longer validates (changed into one the model refuses): the
    cluster id — the object's name, as the CRD keeps it — from which the names of its namespace and PKI derive, and
    the region the status recorded. Deletion reads everything else from the status."""
    status = obj.get("status") or {}
    region = str(status.get("region") or "us-east-1")
    return AWSConfigSpec.model_validate(
        {
            "clusterID": obj["metadata"]["name"],
            "region": region,
            "availabilityZones": [f"{region}a"],
            "kubernetesVersion": status.get("kubernetesVersion") or "1.0.0",
            "credentials": {"secretName": "none"},
        }
    )
