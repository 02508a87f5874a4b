"""The cluster's DNS zone, claimed before anything names it: ``api.<zone>`` and ``*.<zone>`` are published in
Route 53 and written into the cluster's certificates, so a zone another cluster holds — or one inside it, or one
holding it: a KVM guest's API hostname, an IngressConfig's routes, another tenant's AWS zone — is refused here,
naming the holder, and the claim is given back only after the stack (with its hosted zone) is gone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_operator import key
from aws_operator.spec import AWSConfigSpec, AWSConfigStatus
from operatorkit import READY, Resource
from operatorkit.platform import NameClash, NameRefused, claim_names, release_domains

if TYPE_CHECKING:
    from aws_operator.shared import Shared
    from aws_operator.spec import AWSContext


@dataclass
class ZoneClaim(Resource[AWSConfigSpec, AWSConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: AWSContext) -> None:
        settings, cluster = self.shared.settings, ctx.spec.cluster_id
        try:
            claim_names(
                ctx,
                [self.shared.zone(ctx)],
                cluster=cluster,
                bases=settings.platform.with_domain(settings.dns.base_domain),
                labels=key.labels(cluster),
            )
        except (NameRefused, NameClash) as exc:
            ctx.set_condition(READY, "False", exc.reason, f"zone: {exc}")
            raise

    def ensure_deleted(self, ctx: AWSContext) -> None:
        release_domains(ctx, ctx.name)  # after the stack: nothing publishes the zone any more
