"""Worker pools: per pool a StatefulSet ``worker-<pool>`` of VM pods in the workers' namespace, one pod per guest
Node, node name = pod name (``worker-<pool>-<n>``) — stable names, so a replaced VM comes back as the same Node
with the same certificate, and scaling down always removes the highest-numbered one. The StatefulSet's update
strategy is ``OnDelete``: nothing replaces a VM except this resource, which drains its Node first. One disruptive
step per pool at a time, each pass doing what it can without waiting:

1. **scale**: up at once, as far as the nodes' boot configurations exist (a VM never starts without its
   certificate); down one Node at a time — drain it through the guest API (PodDisruptionBudgets honoured, up to the
   drain timeout), then lower the StatefulSet's replicas; a pool removed from the spec is scaled to 0, then deleted;
2. **roll**: a VM whose pod template is outdated (Kubernetes version, shape, labels, taints) or that booted before
   its node certificate was renewed is drained and its pod deleted — one at a time, only while the control plane is
   Available and every other Node of the pool is Ready; the StatefulSet brings it back with the new template;
3. **repair**: a VM whose guest Node is not Ready (or never registered) longer than the threshold is replaced
   without draining (its pods are unreachable anyway) — one at a time, and not at all while more of the pool than
   the allowed share (but at least one VM, so a small pool heals too) is unhealthy: then the cause is not the VMs;
4. **clean up**: a guest Node whose VM no longer exists is deleted.

Workers run the version the whole control plane runs (``status.kubernetesVersion``): a kubelet is never newer than
its API server. At the cluster's deletion nothing is drained: the StatefulSets go, and their VMs power off.

Which VM goes, and when, is decided by the pure functions of :mod:`kvm_operator.pool_policy`; this resource reads
the pool (:mod:`._pool`), acts on their choice (drains, deletes, applies :mod:`._pool_statefulset`) and reports
(:mod:`._pool_status`).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kvm_operator import key, metrics, pool_policy
from kvm_operator.drain import drain
from kvm_operator.guest import GuestClients, GuestUnreachable
from kvm_operator.pool_policy import TEMPLATE, Drain
from kvm_operator.resources._pool import Pool
from kvm_operator.resources._pool_statefulset import statefulset
from kvm_operator.resources._pool_status import WORKERS_READY, report
from kvm_operator.resources._workers import bridge, pods, pool_specs, statefulsets
from kvm_operator.resources.boot_configs import issued
from kvm_operator.resources.status import CONTROL_PLANE_AVAILABLE
from kvm_operator.spec import KVMConfigSpec, KVMConfigStatus
from operatorkit import RequeueAfter, Resource, get_condition, is_subset, is_true, timestamps
from operatorkit.kinds import NODE, POD, SECRET, STATEFUL_SET

if TYPE_CHECKING:
    from kvm_operator.pool_policy import VM
    from kvm_operator.shared import Shared
    from kvm_operator.spec import KVMContext
    from operatorkit import KubeClient, Object

__all__ = ["WORKERS_READY", "Pool", "WorkerPools"]


@dataclass
class WorkerPools(Resource[KVMConfigSpec, KVMConfigStatus]):
    shared: Shared
    guests: GuestClients = field(default_factory=GuestClients)
    _started: datetime.datetime = field(default_factory=timestamps.now)
    _boots_seen: dict[str, set[str]] = field(default_factory=dict)  # by "<KVMConfig uid>/<pool>": pod uids observed

    def ensure_created(self, ctx: KVMContext) -> None:
        specs = pool_specs(ctx)
        if not specs:
            report(ctx, [], None)
            return
        ctx.requeue_after(self.shared.settings.vms.health_check_seconds)  # the guest's Nodes raise no mother event
        version, network = ctx.status.kubernetes_version, bridge(ctx)
        if version is None or network is None:
            waiting = "the control plane" if version is None else "the cluster's network (FlannelConfig)"
            report(ctx, [], f"waiting for {waiting} before starting VMs")
            return
        guest, nodes, unreachable = self._guest_nodes(ctx)
        sets, all_pods = statefulsets(ctx), pods(ctx)
        pools: list[Pool] = []
        for name, spec in sorted(specs.items()):
            pool_nodes = {
                n: node for n, node in nodes.items() if node["metadata"]["labels"].get(key.POOL_LABEL) == name
            }
            pool = Pool(name, spec, sets.get(name), all_pods.get(name, {}), pool_nodes)
            if unreachable:
                pool.problems.append(unreachable)
            self._scale(ctx, pool, guest, version, network)
            if guest is not None:
                vms = pool.vms(self._boot_secret(ctx, name), lambda node: issued(ctx, node))
                self._roll(ctx, pool, guest, vms)
                self._repair(ctx, pool, guest, vms)
                self._clean_up(ctx, pool, guest)
            self._observe_boots(ctx, pool)
            pools.append(pool)
        report(ctx, pools, None)

    def ensure_deleted(self, ctx: KVMContext) -> None:
        """No draining: the whole guest goes. The StatefulSets are deleted, and their VMs power off. Only this
        KVMConfig's are waited for (:func:`pods`): one refused for a taken cluster id has none, and goes at once."""
        for workload in statefulsets(ctx).values():
            if not workload["metadata"].get("deletionTimestamp"):
                meta = workload["metadata"]
                ctx.client.delete(STATEFUL_SET, meta["name"], meta["namespace"], uid=meta["uid"])
        left = sorted(name for pool in pods(ctx).values() for name in pool)
        if left:
            raise RequeueAfter(2, f"waiting for worker VMs {', '.join(left[:3])} to power off")
        uid = str(ctx.obj["metadata"]["uid"])
        self.guests.forget(uid)
        for seen in [k for k in self._boots_seen if k.startswith(f"{uid}/")]:
            del self._boots_seen[seen]

    # -- reading the guest ---------------------------------------------------------------------------------------
    def _guest_nodes(self, ctx: KVMContext) -> tuple[KubeClient | None, dict[str, Object], str | None]:
        """The guest's client and its pools' Nodes by name, or why the guest cannot be asked."""
        try:
            guest = self.guests.client(ctx, self.shared)
            found = guest.list(NODE, label_selector=key.POOL_LABEL)["items"]
        except GuestUnreachable as exc:
            return None, {}, f"cannot look at guest Nodes: {exc}"
        except Exception as exc:  # any failure to ask the guest (refused, TLS, timeout, 5xx) is a condition
            return None, {}, f"guest API at {self.shared.api_hostname(ctx.spec)} did not answer: {exc}"[:300]
        return guest, {node["metadata"]["name"]: node for node in found}, None

    def _boot_secret(self, ctx: KVMContext, pool: str) -> Object | None:
        return ctx.cache(SECRET).get_by_name(key.boot_secret(pool), key.workers_namespace(ctx.name))

    # -- 1. scale --------------------------------------------------------------------------------------------------
    def _scale(self, ctx: KVMContext, pool: Pool, guest: KubeClient | None, version: str, network: str) -> None:
        configured: set[str] = set()
        if pool.have < pool.want:  # VMs start as far as boot configurations exist (one per issued certificate)
            configs = (self._boot_secret(ctx, pool.name) or {}).get("data") or {}
            configured = {name.removesuffix(".ign") for name in configs if name.endswith(".ign")}
        plan = pool_policy.scale(pool.name, pool.have, pool.want, configured)
        target = plan.replicas
        if plan.drain is not None and not self._drained(ctx, pool, guest, plan.drain, "scale-down"):
            target = pool.have
        if plan.waiting:
            pool.problems.append(f"{pool.name}: {plan.waiting}")
        if pool.spec is None:
            if target == 0 and not pool.pods and pool.workload is not None:
                meta = pool.workload["metadata"]
                ctx.client.delete(STATEFUL_SET, meta["name"], meta["namespace"], uid=meta["uid"])
                ctx.event("Normal", "WorkerPoolRemoved", f"pool {pool.name}: last VM gone, StatefulSet deleted")
                return
            if pool.workload is not None and target != pool.have:
                self._resize(ctx, pool, target)
            return
        manifest = statefulset(ctx, self.shared, pool.spec, target, version, network)
        if pool.workload is None or not is_subset(manifest, pool.workload):
            pool.workload = ctx.create_or_apply(STATEFUL_SET, manifest)

    def _resize(self, ctx: KVMContext, pool: Pool, count: int) -> None:
        """A removed pool's StatefulSet to ``count`` replicas, its template left as it is."""
        assert pool.workload is not None
        ctx.check_owned(STATEFUL_SET, pool.workload)
        meta = pool.workload["metadata"]
        patch = {"metadata": {"uid": meta["uid"]}, "spec": {"replicas": count}}
        pool.workload = ctx.client.patch(
            STATEFUL_SET, meta["name"], patch, meta["namespace"], field_manager=ctx.field_manager
        )

    # -- draining ----------------------------------------------------------------------------------------------------
    def _drained(self, ctx: KVMContext, pool: Pool, guest: KubeClient | None, victim: str, why: str) -> bool:
        """One pass of draining ``victim`` before its VM goes; True once it may go."""
        pool.busy = True
        step = pool_policy.drain_step(
            has_vm=victim in pool.pods, has_node=victim in pool.nodes, guest_reachable=guest is not None
        )
        if step is Drain.NOTHING:
            return True
        if step is Drain.WAIT or guest is None:
            pool.problems.append(f"{pool.name}: {why} of {victim} waits for the guest API to drain it")
            return False
        result = drain(guest, pool.nodes[victim], self.shared.settings.vms.drain_timeout_seconds)
        if not result.done:
            pool.problems.append(f"{pool.name}: {why}: {result.message}")
            return False
        outcome = "timed_out" if result.timed_out else "drained"
        if result.started is not None:
            metrics.worker_drain_duration.labels(outcome).observe((timestamps.now() - result.started).total_seconds())
        if result.timed_out:
            ctx.event("Warning", "DrainTimedOut", result.message)
        else:
            ctx.event("Normal", "NodeDrained", f"{victim} drained for {why}")
        return True

    def _remove_vm(self, ctx: KVMContext, pool: Pool, guest: KubeClient, victim: str) -> None:
        """Delete the VM's pod (its StatefulSet brings it back) and its guest Node (the new VM registers afresh,
        schedulable, instead of inheriting the cordoned one)."""
        meta = pool.pods[victim]["metadata"]
        ctx.client.delete(POD, victim, meta["namespace"], uid=meta["uid"])
        if victim in pool.nodes:
            guest.delete(NODE, victim)
        pool.busy = True

    # -- 2. roll -------------------------------------------------------------------------------------------------------
    def _roll(self, ctx: KVMContext, pool: Pool, guest: KubeClient, vms: list[VM]) -> None:
        choice = pool_policy.replacement(
            vms,
            have=pool.have,
            want=pool.want,
            revision=pool.update_revision(),
            busy=pool.busy,
            control_plane_available=is_true(ctx.status, CONTROL_PLANE_AVAILABLE),
        )
        if choice.waiting:
            pool.problems.append(f"{pool.name}: {choice.waiting}")
        if choice.victim is None or not self._drained(ctx, pool, guest, choice.victim, "replacement"):
            return
        self._remove_vm(ctx, pool, guest, choice.victim)
        metrics.worker_replacements.labels(choice.why).inc()
        why = "a new version or shape" if choice.why == TEMPLATE else "a renewed node certificate"
        ctx.event("Normal", "WorkerReplaced", f"{choice.victim} replaced for {why}")

    # -- 3. repair -----------------------------------------------------------------------------------------------------
    def _repair(self, ctx: KVMContext, pool: Pool, guest: KubeClient, vms: list[VM]) -> None:
        settings = self.shared.settings.vms
        choice = pool_policy.repair(
            vms,
            want=pool.want,
            now=timestamps.now(),
            after=datetime.timedelta(seconds=settings.repair_after_seconds),
            max_unhealthy_percent=settings.max_unhealthy_percent,
            busy=pool.busy,
        )
        if choice.waiting:
            pool.problems.append(f"{pool.name}: {choice.waiting}")
        if choice.victim is None:
            return
        self._remove_vm(ctx, pool, guest, choice.victim)
        metrics.worker_repairs.inc()
        ctx.event("Warning", "WorkerRepaired", f"{choice.victim} replaced: {choice.why}")

    # -- 4. clean up ---------------------------------------------------------------------------------------------------
    def _clean_up(self, ctx: KVMContext, pool: Pool, guest: KubeClient) -> None:
        """Delete guest Nodes of this pool whose VM is gone for good (scaled away, or the pool removed)."""
        for name in pool_policy.left_over(pool.name, list(pool.nodes), pool.pods, pool.have):
            guest.delete(NODE, name)
            del pool.nodes[name]
            ctx.event("Normal", "NodeRemoved", f"guest Node {name} removed: its VM is gone")

    # -- observing boots -----------------------------------------------------------------------------------------------
    def _observe_boots(self, ctx: KVMContext, pool: Pool) -> None:
        """A VM's boot duration, once per pod: its pod's creation to its Node's Ready, both as recorded by the API
        servers. Only Nodes that became Ready while this process ran count (a restarted operator, or the standby
        taking over, does not count them again); what is remembered is the pool's current pods, nothing more."""
        key_ = f"{ctx.obj['metadata']['uid']}/{pool.name}"
        seen = self._boots_seen.get(key_, set()) & {pod["metadata"]["uid"] for pod in pool.pods.values()}
        for name, pod in pool.pods.items():
            uid = pod["metadata"]["uid"]
            ready = get_condition((pool.nodes.get(name) or {}).get("status") or {}, "Ready") or {}
            if uid in seen or ready.get("status") != "True" or not ready.get("lastTransitionTime"):
                continue
            seen.add(uid)
            became_ready = timestamps.parse(ready["lastTransitionTime"])
            took = (became_ready - timestamps.parse(pod["metadata"]["creationTimestamp"])).total_seconds()
            if became_ready >= self._started and took >= 0:
                metrics.worker_boot_duration.observe(took)
        if seen:
            self._boots_seen[key_] = seen
        else:
            self._boots_seen.pop(key_, None)
