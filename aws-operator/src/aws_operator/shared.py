"""What every aws resource shares: the settings, the way into guest accounts, the VPC allocations made by this
process that the cache may not show yet, and what the guest-cluster kit asks of an operator (the cluster's PKI,
where its admin reaches the API)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import guestkit
from aws_operator import key
from aws_operator.aws import AWS
from operatorkit import ReconcileError

if TYPE_CHECKING:
    from aws_operator.aws import Account
    from aws_operator.settings import AWSSettings
    from aws_operator.spec import AWSContext


class NoAccount(ReconcileError):
    reason = "CredentialsInvalid"


@dataclass
class Shared:
    settings: AWSSettings
    aws: AWS = field(init=False)
    vpc_lock: threading.Lock = field(default_factory=threading.Lock)
    vpc_reserved: dict[str, str] = field(default_factory=dict)
    """AWSConfig key → the VPC CIDR this process allocated for it (until its status records it)."""
    account_lock: threading.Lock = field(default_factory=threading.Lock)
    account_reserved: dict[str, str] = field(default_factory=dict)
    """AWSConfig key → the account this process let it use (until the AWSConfig is deleted, or its first AssumeRole
    fails); the cache's statuses tell the same after a restart."""

    def __post_init__(self) -> None:
        self.aws = AWS(self.settings)

    def zone(self, ctx: AWSContext) -> str:
        return ctx.spec.dns.zone or key.zone(ctx.spec.cluster_id, self.settings.dns.base_domain)

    def pki(self, ctx: AWSContext) -> guestkit.GuestPKI:
        """kubeadm's certificates for masters in the cluster's zone; workers join with the kubelet-bootstrap
        certificate (the CA's bootstrap role) and ask the guest for their own."""
        cluster, zone = ctx.spec.cluster_id, self.zone(ctx)
        return guestkit.GuestPKI(
            cluster_id=cluster,
            namespace=key.namespace(cluster),
            labels=key.labels(cluster),
            certificates=key.CERTIFICATES,
            etcd_names=key.etcd_names(zone),
            apiserver_names=key.apiserver_names(zone),
            extra_roles=(guestkit.bootstrap_role(),),
        )

    def admin_access(self, ctx: AWSContext) -> guestkit.AdminAccess:
        """The API load balancer's endpoint the stack reported, else ``api.<zone>`` on 443."""
        server = ctx.status.endpoint or f"https://api.{self.zone(ctx)}"
        return guestkit.AdminAccess(server, sort_keys=False)

    def account(self, ctx: AWSContext) -> Account:
        """The guest account, as the role the Credentials step assumed (recorded, so deletion needs no Secret)."""
        role, region = ctx.status.role_arn, ctx.status.region
        if not role or not region:
            raise NoAccount("no role assumed yet (CredentialsValid says why)")
        return self.aws.account(role, ctx.namespace or "", region)

    def has_account(self, ctx: AWSContext) -> bool:
        """Whether anything can have been made in AWS for this cluster (a role was assumed once)."""
        return bool(ctx.status.role_arn and ctx.status.region)
