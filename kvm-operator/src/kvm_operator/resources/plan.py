"""Before the cluster gets anything: its names and addresses checked against the platform's plan.

* **The API hostname** is claimed (a ``DomainClaim``, :mod:`operatorkit.platform`) before it goes into a
  certificate or a route: a name inside another cluster's domain — an AWS guest's zone, another KVM guest's —
  or one holding a base domain (cluster id ``aws`` under ``kubeception.test`` would hold the AWS guests' domain
  ``aws.kubeception.test``) is refused with a condition naming the holder. The claim is given back last, after
  the route is gone.
* **The guest's networks**: a requested VM network must lie in the platform's flannel pool, clear of the
  mother's networks; the Service and pod ranges (inside the VMs) must not overlap the VMs' own network nor what
  they reach through their gateway (:func:`operatorkit.platform.check_guest_ranges` says why). Checked before
  the cluster is first made: the ranges are immutable, and a cluster made before this check keeps running.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kvm_operator import key
from kvm_operator.spec import KVMConfigSpec, KVMConfigStatus
from operatorkit import READY, Resource, TerminalError
from operatorkit.platform import AddressRefused, Claim, NameClaim, check_flannel_network, check_guest_ranges

if TYPE_CHECKING:
    from kvm_operator.shared import Shared
    from kvm_operator.spec import KVMContext


@dataclass
class GuestAddresses(Resource[KVMConfigSpec, KVMConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: KVMContext) -> None:
        if ctx.recorded.target_version is not None:
            return  # made already: its ranges cannot change
        network, plan = ctx.spec.network, self.shared.settings.platform
        try:
            if network.cidr is not None:
                check_flannel_network(network.cidr, plan)
            check_guest_ranges(
                [("network.serviceCIDR", network.service_cidr), ("network.podCIDR", network.pod_cidr)], plan
            )
        except AddressRefused as exc:
            ctx.set_condition(READY, "False", "AddressRefused", str(exc))
            raise TerminalError(str(exc), reason="AddressRefused") from exc


@dataclass
class APIHostnameClaim(NameClaim[KVMConfigSpec, KVMConfigStatus]):
    """Released after the route and the certificates naming the hostname are gone."""

    shared: Shared

    def claim(self, ctx: KVMContext) -> Claim:
        settings, cluster = self.shared.settings, ctx.spec.cluster_id
        hostname = self.shared.api_hostname(ctx.spec)
        bases = settings.platform.with_domain(settings.routing.base_domain)
        return Claim(f"API hostname {hostname}", [hostname], cluster, bases, key.labels(cluster))
