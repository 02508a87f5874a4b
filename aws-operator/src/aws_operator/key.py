"""Every name aws-operator derives from a cluster id, in one place (Giant Swarm's ``key`` package).

On the mother, a cluster's PKI lives in namespace ``<clusterID>`` — the same claim on the id a KVMConfig makes, so
no two clusters of either kind share an id. In the guest's AWS account, everything is named after the id and
carries it as a tag: the stack ``kubeception-<id>``, the bucket ``kubeception-<id>-<account>-<region>`` (bucket
names are global: the account and region keep two tenants' buckets apart), the key alias ``alias/kubeception/<id>``.
CloudFormation logical ids of a worker pool escape the pool's name (lowercase, digits, ``-``) into one that no other
pool name produces: ``-`` becomes ``X``, the only upper-case letter it can contain.
"""

from __future__ import annotations

from typing import Any

import guestkit
from operatorkit import CLUSTER_LABEL, MANAGED_BY_LABEL, Owner

MANAGER = "aws-operator"
CLUSTER_INDEX = "cluster"
ORGANIZATION_LABEL = "kubeception.io/organization"
TEAM_LABEL = "kubeception.io/team"
CLUSTER_TAG = "kubeception.io/cluster"
OWNER_TAG = "kubeception.io/owner"  # the claim: the owning AWSConfig, as Owner.encode_tag() (what S3 and IAM accept)
ROLE_TAG = "kubeception.io/role"
APPROVE_ANNOTATION = "kubeception.io/approve-change-set"
RECREATE_ANNOTATION = "kubeception.io/recreate"
CA = guestkit.CA

# One CertConfig (and Secret) per certificate the masters and workers need: kubeadm's set without the front-proxy
# client (no aggregated API), with the kubelet-bootstrap certificate workers join by. They reach the instances
# encrypted with the cluster's KMS key, as objects in its bucket.
CERTIFICATES = guestkit.certificate_set(front_proxy=False, kubelet_bootstrap=True)
MASTER_CERTIFICATES = tuple(name for name in CERTIFICATES if name not in {"admin", "kubelet-bootstrap"})
WORKER_CERTIFICATES = ("kubelet-bootstrap",)


def namespace(cluster_id: str) -> str:
    """The cluster's namespace on the mother: its CAConfig, CertConfigs and their Secrets."""
    return cluster_id


def stack(cluster_id: str) -> str:
    """The guest's main stack: network, IAM, masters, worker pools, load balancers, DNS."""
    return f"kubeception-{cluster_id}"


def bucket(cluster_id: str, account: str, region: str) -> str:
    """At most 12 + 30 + 12 + 15 + 3 = 72 characters is too long for S3's 63: the region is shortened to its
    initials and number (eu-west-1 → ew1), unique among AWS's regions."""
    short = "".join(part[0] for part in region.split("-")[:-1]) + region.rsplit("-", 1)[1]
    return f"kubeception-{cluster_id}-{account}-{short}"


def key_alias(cluster_id: str) -> str:
    return f"alias/kubeception/{cluster_id}"


def same_owner(recorded: str | None, claim: str) -> bool:
    """Whether the claim ``recorded`` in a tag names the owner of ``claim`` (compared by uid, either encoding)."""
    found, mine = Owner.decode(recorded), Owner.decode(claim)
    return found is not None and mine is not None and found.uid == mine.uid


def iam_path(cluster_id: str) -> str:
    """The IAM path of the cluster's roles and instance profiles."""
    return f"/kubeception/{cluster_id}/"


def certificate_object(name: str) -> str:
    return f"certificates/{name}.enc"


def boot_object(role: str) -> str:
    """The Ignition config an instance of ``role`` (``master`` or ``worker-<pool>``) fetches at boot."""
    return f"boot/{role}.ign"


def pool_id(pool: str) -> str:
    """A pool's part of CloudFormation logical ids (alphanumeric only): ``-`` → ``X``, unique per pool name."""
    return pool.replace("-", "X")


# -- The guest stack's CloudFormation logical ids (resources and outputs), spelt once: the template renders them; the
# change-set classifier, the drift check and the stack's reader look them up.
VPC = "VPC"
INTERNET_GATEWAY = "InternetGateway"
GATEWAY_ATTACHMENT = "GatewayAttachment"
PUBLIC_ROUTE_TABLE = "PublicRouteTable"
PUBLIC_DEFAULT_ROUTE = "PublicDefaultRoute"
PUBLIC_SUBNET = "PublicSubnet"  # per availability zone, its index appended: PublicSubnet0 (see zonal())
PRIVATE_SUBNET = "PrivateSubnet"
PRIVATE_ROUTE_TABLE = "PrivateRouteTable"
PRIVATE_DEFAULT_ROUTE = "PrivateDefaultRoute"
NAT_ADDRESS = "NatAddress"
NAT_GATEWAY = "NatGateway"
LOAD_BALANCER_SECURITY_GROUP = "LoadBalancerSecurityGroup"
MASTER_SECURITY_GROUP = "MasterSecurityGroup"
WORKER_SECURITY_GROUP = "WorkerSecurityGroup"
API_LOAD_BALANCER = "APILoadBalancer"
INGRESS_LOAD_BALANCER = "IngressLoadBalancer"
MASTERS = "Master"  # the masters' launch template and group: MasterLaunchTemplate, MasterGroup
LAUNCH_TEMPLATE = "LaunchTemplate"
GROUP = "Group"
HOSTED_ZONE = "HostedZone"
API_RECORD = "APIRecord"
INGRESS_RECORD = "IngressRecord"
VPC_ID_OUTPUT = "VPCID"
API_ENDPOINT_OUTPUT = "APIEndpoint"
HOSTED_ZONE_ID_OUTPUT = "HostedZoneID"


def zonal(resource: str, index: int) -> str:
    """A per-zone resource: ``PublicSubnet0``."""
    return f"{resource}{index}"


def subnet_routes(subnet: str) -> str:
    return f"{subnet}Routes"


def instance_role(role: str) -> str:
    """``master`` → ``MasterRole``."""
    return f"{role.capitalize()}Role"


def instance_profile(role: str) -> str:
    return f"{role.capitalize()}InstanceProfile"


def role_arn_output(role: str) -> str:
    return f"{instance_role(role)}ARN"


def dns_output(load_balancer: str) -> str:
    return f"{load_balancer}DNS"


def pool_resources(pool: str) -> str:
    """The prefix of a worker pool's launch template and group: ``Pool<id>``."""
    return f"Pool{pool_id(pool)}"


def launch_template(prefix: str) -> str:
    """:data:`MASTERS` or :func:`pool_resources` → its launch template."""
    return f"{prefix}{LAUNCH_TEMPLATE}"


def group(prefix: str) -> str:
    """:data:`MASTERS` or :func:`pool_resources` → its Auto Scaling group (and the output naming it)."""
    return f"{prefix}{GROUP}"


MASTER_RESOURCES = frozenset(
    {launch_template(MASTERS), group(MASTERS), instance_profile("master"), instance_role("master")}
)
"""Resources whose change touches the masters (their instances or how they are reached)."""
FOUNDATION = (VPC, PUBLIC_SUBNET, PRIVATE_SUBNET, MASTER_SECURITY_GROUP, PRIVATE_ROUTE_TABLE)
"""Prefixes of what the masters stand on: replacing any of it replaces them too."""


def zone(cluster_id: str, base_domain: str) -> str:
    return f"{cluster_id}.{base_domain}"


def etcd_names(zone: str) -> list[str]:
    """What the masters' etcd certificates name (the masters reach each other in the cluster's zone)."""
    return ["etcd", f"etcd.{zone}", "localhost"]


def apiserver_names(zone: str) -> list[str]:
    """What the API server's certificate names: ``api.<zone>`` (the API load balancer's record), the guest's
    ``kubernetes``."""
    return [f"api.{zone}", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "localhost"]


def labels(cluster_id: str) -> dict[str, str]:
    return {CLUSTER_LABEL: cluster_id, MANAGED_BY_LABEL: MANAGER}


def metadata(cluster_id: str, name: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace(cluster_id), "labels": labels(cluster_id)}


def managed_selector() -> str:
    return f"{MANAGED_BY_LABEL}={MANAGER}"
