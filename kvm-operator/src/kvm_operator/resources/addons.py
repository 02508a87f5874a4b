"""The guest's add-ons (:mod:`kvm_operator.addons`) as owned state: applied through the guest's API with
server-side apply under the operator's own field manager, looked at every health period — an object that drifted
from its rendering is applied again, one deleted is made again — and following the cluster: kube-proxy runs the
version the control plane runs, CoreDNS scales with the workers. An add-on turned off in ``spec.addons`` has its
objects deleted.

Only objects labelled ``kubeception.io/addon=<name>`` are touched: an object of the same name without that label
is someone else's (a user's own CoreDNS), and the whole add-on is left unapplied while it is there —
``AddonsReady=False Refused`` names it. ``AddonsReady`` says what was checked: each add-on's DaemonSet or
Deployment, its ready and up-to-date counts against what it asks for, naming what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kvm_operator import addons, key
from kvm_operator.guest import GuestClients, GuestUnreachable
from kvm_operator.spec import KVMConfigSpec, KVMConfigStatus
from operatorkit import ApiError, Resource, is_subset
from operatorkit.kinds import DAEMON_SET, DEPLOYMENT

if TYPE_CHECKING:
    from kvm_operator.shared import Shared
    from kvm_operator.spec import KVMContext
    from operatorkit import Kind, KubeClient, Object

ADDONS_READY = "AddonsReady"


def enabled(spec: KVMConfigSpec) -> dict[str, bool]:
    return {
        addons.FLANNEL: spec.addons.pod_network.enabled,
        addons.NETWORK_POLICIES: spec.addons.network_policy.enabled,
        addons.KUBE_PROXY: spec.addons.kube_proxy.enabled,
        addons.COREDNS: spec.addons.core_dns.enabled,
        addons.ACCESS: True,  # what per-user guest credentials are given: not a choice
    }


def describe(kind: Kind, obj: Object) -> str:
    meta = obj["metadata"]
    return f"{kind.kind} {meta['namespace']}/{meta['name']}" if meta.get("namespace") else f"{kind.kind} {meta['name']}"


def ours(obj: Object, addon: str) -> bool:
    return bool(obj["metadata"].get("labels", {}).get(key.ADDON_LABEL) == addon)


def readiness(kind: Kind, obj: Object | None) -> tuple[bool, str]:
    """Whether a workload runs as rendered on as many pods as it asks for, and what was counted."""
    if obj is None:
        return False, "missing"
    meta, status = obj["metadata"], obj.get("status") or {}
    if int(status.get("observedGeneration", 0)) < int(meta.get("generation", 0)):
        return False, "not yet observed by its controller"
    if kind == DAEMON_SET:
        want = int(status.get("desiredNumberScheduled", 0))
        ready, updated = int(status.get("numberReady", 0)), int(status.get("updatedNumberScheduled", 0))
    else:
        want = int((obj.get("spec") or {}).get("replicas", 1))
        ready, updated = int(status.get("readyReplicas", 0)), int(status.get("updatedReplicas", 0))
    return ready >= want and updated >= want, f"{ready}/{want} ready, {updated}/{want} up to date"


@dataclass
class Addons(Resource[KVMConfigSpec, KVMConfigStatus]):
    shared: Shared
    guests: GuestClients = field(default_factory=GuestClients)

    def ensure_created(self, ctx: KVMContext) -> None:
        version = ctx.status.kubernetes_version
        if not ctx.spec.worker_pools:  # nothing would run them; the guest is not asked until it has workers
            ctx.set_condition(ADDONS_READY, "True", "NoWorkers", "no worker pools: the add-ons wait for workers")
            return
        if version is None:
            ctx.set_condition(ADDONS_READY, "False", "Waiting", "waiting for the control plane")
            return
        ctx.requeue_after(self.shared.settings.vms.health_check_seconds)  # the guest's changes raise no event
        try:
            guest = self.guests.client(ctx, self.shared)
            self._keep(ctx, guest, version)
        except GuestUnreachable as exc:
            ctx.set_condition(ADDONS_READY, "False", "GuestUnreachable", f"cannot look at the add-ons: {exc}")
        except Exception as exc:  # any failure to ask the guest (refused, TLS, timeout, 5xx) is a condition
            message = f"guest API at {self.shared.api_hostname(ctx.spec)} did not answer: {exc}"
            ctx.set_condition(ADDONS_READY, "False", "GuestUnreachable", message[:1000])

    def ensure_deleted(self, ctx: KVMContext) -> None:
        """Nothing: the add-ons go with the guest."""

    def guest(self, ctx: KVMContext, version: str) -> addons.Guest:
        settings, spec = self.shared.settings, ctx.spec
        return addons.Guest(
            version=version,
            api_host=self.shared.api_hostname(spec),
            api_port=settings.routing.port,
            api_address=settings.routing.address,
            pod_cidr=spec.network.pod_cidr,
            service_cidr=spec.network.service_cidr,
            workers=sum(pool.replicas for pool in spec.worker_pools),
            forward=bool(self.shared.dns_servers(spec)),
            kube_proxy_image=settings.images.kube_proxy,
            coredns_image=settings.images.coredns,
            flannel_image=settings.images.flannel,
            network_policies_image=settings.images.network_policies,
            pull_policy=settings.images.pull_policy,
        )

    def _keep(self, ctx: KVMContext, guest: KubeClient, version: str) -> None:
        wanted = enabled(ctx.spec)
        rendered = addons.render(self.guest(ctx, version), {name: True for name in addons.ADDONS})
        refused: list[str] = []
        checked: list[str] = []
        missing: list[str] = []
        for name, manifests in rendered.items():
            if not wanted[name]:
                self._remove(ctx, guest, name, manifests)
                continue
            current = [guest.get_or_none(kind, obj["metadata"]["name"], obj["metadata"].get("namespace"))
                       for kind, obj in manifests]  # fmt: skip
            foreign = [describe(kind, found) for (kind, _), found in zip(manifests, current, strict=True)
                       if found is not None and not ours(found, name)]  # fmt: skip
            if foreign:
                refused.append(
                    f"{name} not applied: {', '.join(foreign)} exists without label {key.ADDON_LABEL}={name} "
                    "(not the operator's: delete it, or label it to hand it over)"
                )
                continue
            repaired: list[str] = []
            for (kind, obj), found in zip(manifests, current, strict=True):
                if found is None or not is_subset(obj, found):
                    try:
                        applied = guest.apply(kind, obj, field_manager=key.ADDON_MANAGER, force=True)
                    except ApiError as exc:
                        if exc.transient:
                            raise
                        refused.append(f"{name}: the guest API refused {describe(kind, obj)}: {exc}"[:300])
                        continue
                    if found is not None:
                        repaired.append(describe(kind, obj))
                    found = applied
                if kind in (DAEMON_SET, DEPLOYMENT):
                    ready, counted = readiness(kind, found)
                    line = f"{name}: {describe(kind, obj)} {counted}"
                    (checked if ready else missing).append(line)
            if repaired:
                ctx.event("Normal", "AddonRepaired", f"{name}: applied again: {', '.join(repaired)}"[:1000])
        if refused or missing:
            reason = "Refused" if refused else "NotReady"
            message = "; ".join(refused + [f"not ready: {m}" for m in missing] + checked)
            ctx.set_condition(ADDONS_READY, "False", reason, message[:1000])
        elif not checked:
            ctx.set_condition(ADDONS_READY, "True", "NoAddons", "every add-on is turned off (spec.addons)")
        else:
            ctx.set_condition(ADDONS_READY, "True", "Ready", "; ".join(checked)[:1000])

    def _remove(self, ctx: KVMContext, guest: KubeClient, name: str, manifests: addons.Manifests) -> None:
        """A turned-off add-on's objects, those labelled as its own (the workloads first)."""
        for kind, obj in reversed(manifests):
            meta = obj["metadata"]
            found = guest.get_or_none(kind, meta["name"], meta.get("namespace"))
            if found is not None and ours(found, name) and not found["metadata"].get("deletionTimestamp"):
                guest.delete(kind, meta["name"], meta.get("namespace"), uid=found["metadata"]["uid"])
                ctx.event("Normal", "AddonRemoved", f"{name} is turned off: {describe(kind, obj)} deleted")
