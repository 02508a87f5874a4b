"""The cluster's DNS zone, claimed before anything names it: ``api.<zone>`` and ``*.<zone>`` are published in
Route 53 and written into the cluster's certificates, so a zone another cluster holds — or one inside it, or one
holding it: a KVM guest's API hostname, an IngressConfig's routes, another tenant's AWS zone — is refused here,
naming the holder, and the claim is given back only after the stack (with its hosted zone) is gone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_operator import key
from aws_operator.spec import AWSConfigSpec, AWSConfigStatus
from operatorkit.platform import Claim, NameClaim

if TYPE_CHECKING:
    from aws_operator.shared import Shared
    from aws_operator.spec import AWSContext


@dataclass
class ZoneClaim(NameClaim[AWSConfigSpec, AWSConfigStatus]):
    """Released after the stack: then nothing publishes the zone any more."""

    shared: Shared

    def claim(self, ctx: AWSContext) -> Claim:
        settings, cluster = self.shared.settings, ctx.spec.cluster_id
        bases = settings.platform.with_domain(settings.dns.base_domain)
        return Claim("zone", [self.shared.zone(ctx)], cluster, bases, key.labels(cluster))
