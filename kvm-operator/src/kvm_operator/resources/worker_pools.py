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
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kvm_operator import key, metrics, timestamps
from kvm_operator.drain import drain
from kvm_operator.guest import GuestClients, GuestUnreachable
from kvm_operator.launcher.vm import ACCELERATOR_LABEL
from kvm_operator.resources._workers import bridge, ordinal, pods, pool_specs, replicas, statefulsets
from kvm_operator.resources.boot_configs import BOOT_ANNOTATION, inputs_hash, issued
from kvm_operator.resources.status import CONTROL_PLANE_AVAILABLE
from kvm_operator.spec import KVMConfigSpec, KVMConfigStatus, NodeStatus, PoolStatus
from kvm_operator.versions import VERSION_ANNOTATION
from kvm_operator.vmpod import VMPod
from operatorkit import CLUSTER_LABEL, RequeueAfter, Resource, get_condition, is_subset, is_true
from operatorkit.kinds import NODE, POD, SECRET, STATEFUL_SET

if TYPE_CHECKING:
    from kvm_operator.shared import Shared
    from kvm_operator.spec import KVMContext, WorkerPool
    from operatorkit import KubeClient, Object

WORKERS_READY = "WorkersReady"
REVISION_LABEL = "controller-revision-hash"
HOSTNAME = "kubernetes.io/hostname"


def node_ready(node: Object | None) -> bool:
    return node is not None and is_true(node.get("status"), "Ready")


@dataclass
class Pool:
    """One pool as this pass sees it, and what it reports."""

    name: str
    spec: WorkerPool | None
    workload: Object | None
    pods: dict[str, Object]
    nodes: dict[str, Object]
    problems: list[str] = field(default_factory=list)
    busy: bool = False  # a disruptive step is under way: no other one this pass

    @property
    def want(self) -> int:
        return self.spec.replicas if self.spec else 0

    @property
    def have(self) -> int:
        return replicas(self.workload)

    def update_revision(self) -> str | None:
        """The revision new pods get, once the StatefulSet controller has seen the latest template."""
        workload = self.workload or {}
        status = workload.get("status") or {}
        if int(status.get("observedGeneration", 0)) < int(workload.get("metadata", {}).get("generation", 0)):
            return None
        revision = status.get("updateRevision")
        return str(revision) if revision else None


@dataclass
class WorkerPools(Resource[KVMConfigSpec, KVMConfigStatus]):
    shared: Shared
    guests: GuestClients = field(default_factory=GuestClients)
    _started: datetime.datetime = field(default_factory=timestamps.now)
    _boots_seen: dict[str, set[str]] = field(default_factory=dict)  # by "<KVMConfig uid>/<pool>": pod uids observed

    def ensure_created(self, ctx: KVMContext) -> None:
        specs = pool_specs(ctx)
        if not specs:
            self._report(ctx, [], None)
            return
        ctx.requeue_after(self.shared.settings.vms.health_check_seconds)  # the guest's Nodes raise no mother event
        version, network = ctx.status.kubernetes_version, bridge(ctx)
        if version is None or network is None:
            waiting = "the control plane" if version is None else "the cluster's network (FlannelConfig)"
            self._report(ctx, [], f"waiting for {waiting} before starting VMs")
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
                self._roll(ctx, pool, guest)
                self._repair(ctx, pool, guest)
                self._clean_up(ctx, pool, guest)
            self._observe_boots(ctx, pool)
            pools.append(pool)
        self._report(ctx, pools, None)

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

    # -- 1. scale --------------------------------------------------------------------------------------------------
    def _scale(self, ctx: KVMContext, pool: Pool, guest: KubeClient | None, version: str, network: str) -> None:
        target = pool.have
        if pool.have > pool.want:
            victim = key.node_name(pool.name, pool.have - 1)
            if self._drained(ctx, pool, guest, victim, "scale-down"):
                target = pool.have - 1
        elif pool.have < pool.want:
            # VMs start in order, as far as boot configurations exist (one per issued node certificate).
            configs = (self._boot_secret(ctx, pool.name) or {}).get("data") or {}
            booted = 0
            while booted < pool.want and f"{key.node_name(pool.name, booted)}.ign" in configs:
                booted += 1
            target = max(pool.have, booted)
            if target < pool.want:
                pool.problems.append(
                    f"{pool.name}: waiting for the certificate of {key.node_name(pool.name, target)} to boot it"
                )
        if pool.spec is None:
            if target == 0 and not pool.pods and pool.workload is not None:
                meta = pool.workload["metadata"]
                ctx.client.delete(STATEFUL_SET, meta["name"], meta["namespace"], uid=meta["uid"])
                ctx.event("Normal", "WorkerPoolRemoved", f"pool {pool.name}: last VM gone, StatefulSet deleted")
                return
            if pool.workload is not None and target != pool.have:
                self._resize(ctx, pool, target)
            return
        self._apply(ctx, self.statefulset(ctx, pool.spec, target, version, network), pool)

    def _boot_secret(self, ctx: KVMContext, pool: str) -> Object | None:
        return ctx.cache(SECRET).get_by_name(key.boot_secret(pool), key.workers_namespace(ctx.name))

    def _apply(self, ctx: KVMContext, manifest: Object, pool: Pool) -> None:
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

    def statefulset(self, ctx: KVMContext, spec: WorkerPool, count: int, version: str, network: str) -> Object:
        settings = self.shared.settings
        cluster = ctx.spec.cluster_id
        vm = VMPod(
            node_image=f"{settings.images.node}:v{version}",
            vm_image=settings.images.vm,
            bridge=network,
            boot_secret=key.boot_secret(spec.name),
            cpus=spec.cpus,
            memory_mib=spec.memory_mib,
            disk_gib=spec.disk_gib,
            accelerator=settings.vms.accelerator,
            qemu_overhead_mib=settings.vms.qemu_overhead_mib,
            cpu_allocation_ratio=settings.vms.cpu_allocation_ratio,
            node_selector=settings.vms.node_selector,
            pull_policy=settings.images.pull_policy,
        )
        pod_spec = vm.spec()
        term: dict[str, Any] = {"labelSelector": {"matchLabels": key.labels(cluster)}, "topologyKey": HOSTNAME}
        if settings.vms.spread == "required":
            anti: dict[str, Any] = {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
        else:
            anti = {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": term}]}
        pod_spec["affinity"] = {"podAntiAffinity": anti}
        labels = key.pool_labels(cluster, spec.name)
        name = key.pool_workload(spec.name)
        return {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {
                "name": name,
                "namespace": key.workers_namespace(cluster),
                "labels": labels,
                "annotations": {VERSION_ANNOTATION: version},
            },
            "spec": {
                "replicas": count,
                "serviceName": name,
                "podManagementPolicy": "Parallel",
                "updateStrategy": {"type": "OnDelete"},
                "selector": {"matchLabels": {CLUSTER_LABEL: cluster, key.POOL_LABEL: spec.name}},
                "template": {
                    "metadata": {
                        "labels": labels,
                        "annotations": {
                            VERSION_ANNOTATION: version,
                            BOOT_ANNOTATION: inputs_hash(ctx, self.shared, spec),
                        },
                    },
                    "spec": pod_spec,
                },
            },
        }

    # -- draining ----------------------------------------------------------------------------------------------------
    def _drained(self, ctx: KVMContext, pool: Pool, guest: KubeClient | None, victim: str, why: str) -> bool:
        """One pass of draining ``victim`` before its VM goes; True once it may go."""
        pool.busy = True
        node = pool.nodes.get(victim)
        if victim not in pool.pods:
            return True  # no VM: nothing runs there
        if guest is None:
            pool.problems.append(f"{pool.name}: {why} of {victim} waits for the guest API to drain it")
            return False
        if node is None:
            return True  # its VM never joined: nothing to drain
        result = drain(guest, node, self.shared.settings.vms.drain_timeout_seconds)
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
    def _outdated(self, ctx: KVMContext, pool: Pool) -> dict[str, str]:
        """VMs to replace, by node: the reason (an older template, or a certificate renewed since it booted)."""
        revision = pool.update_revision()
        boot = self._boot_secret(ctx, pool.name)
        record = (boot or {}).get("metadata", {}).get("annotations", {}).get(BOOT_ANNOTATION)
        serials: dict[str, str] = json.loads(record)["serials"] if record else {}  # what the Secret holds now
        found: dict[str, str] = {}
        for name, pod in pool.pods.items():
            if pod["metadata"].get("deletionTimestamp") or ordinal(name) >= pool.have:
                continue
            if revision and pod["metadata"].get("labels", {}).get(REVISION_LABEL) != revision:
                found[name] = "template"
                continue
            config = issued(ctx, name)
            not_before = ((config or {}).get("status") or {}).get("notBefore")
            serial = ((config or {}).get("status") or {}).get("serial")
            created = timestamps.parse(pod["metadata"]["creationTimestamp"])
            if not_before and serial and serials.get(name) == serial and created < timestamps.parse(not_before):
                found[name] = "certificate"
        return found

    def _roll(self, ctx: KVMContext, pool: Pool, guest: KubeClient) -> None:
        if pool.busy or pool.have != pool.want:
            return
        outdated = self._outdated(ctx, pool)
        if not outdated:
            return
        if not is_true(ctx.status, CONTROL_PLANE_AVAILABLE):
            pool.problems.append(f"{pool.name}: {len(outdated)} VM(s) to replace once the control plane is Available")
            return
        # The one already being drained first (a restarted operator picks up where it was), else the highest.
        victim = max(outdated, key=lambda n: (self._cordoned(pool.nodes.get(n)), ordinal(n)))
        others = [n for n in pool.pods if n != victim and not node_ready(pool.nodes.get(n))]
        if others:
            pool.problems.append(f"{pool.name}: replacing {victim} waits for {', '.join(sorted(others)[:3])} Ready")
            return
        if self._drained(ctx, pool, guest, victim, "replacement"):
            self._remove_vm(ctx, pool, guest, victim)
            reason = outdated[victim]
            metrics.worker_replacements.labels(reason).inc()
            why = "a new version or shape" if reason == "template" else "a renewed node certificate"
            ctx.event("Normal", "WorkerReplaced", f"{victim} replaced for {why}")

    @staticmethod
    def _cordoned(node: Object | None) -> bool:
        return bool(node and (node.get("spec") or {}).get("unschedulable"))

    # -- 3. repair -----------------------------------------------------------------------------------------------------
    def _unhealthy(self, pool: Pool) -> dict[str, str]:
        """VMs whose Node is not Ready, or has not registered, for longer than the threshold: why, by node."""
        after = datetime.timedelta(seconds=self.shared.settings.vms.repair_after_seconds)
        found: dict[str, str] = {}
        for name, pod in pool.pods.items():
            status = pod.get("status") or {}
            if pod["metadata"].get("deletionTimestamp") or not status.get("startTime"):
                continue  # going, or not placed yet (unschedulable: a new VM would not fare better)
            node = pool.nodes.get(name)
            if node is None:
                if timestamps.now() - timestamps.parse(status["startTime"]) > after:
                    found[name] = f"no Node registered {after.total_seconds():.0f} s after its VM started"
                continue
            ready = get_condition(node.get("status") or {}, "Ready") or {}
            since = ready.get("lastTransitionTime")
            if ready.get("status") != "True" and since and timestamps.now() - timestamps.parse(since) > after:
                found[name] = f"Node not Ready since {since}: {ready.get('reason', 'unknown')}"
        return found

    def _repair(self, ctx: KVMContext, pool: Pool, guest: KubeClient) -> None:
        unhealthy = self._unhealthy(pool)
        if not unhealthy:
            return
        size, limit = max(pool.want, len(pool.pods), 1), self.shared.settings.vms.max_unhealthy_percent
        if len(unhealthy) > max(1, size * limit // 100):  # a pool of one (or two) can still be repaired
            pool.problems.append(
                f"{pool.name}: {len(unhealthy)} of {len(pool.pods)} VMs unhealthy, more than {limit}%: not repairing "
                f"(look at the network and the control plane); {next(iter(unhealthy.values()))}"
            )
            return
        if pool.busy or any(p["metadata"].get("deletionTimestamp") for p in pool.pods.values()):
            pool.problems.append(f"{pool.name}: repair of {', '.join(sorted(unhealthy))} waits for the step under way")
            return
        victim = min(unhealthy, key=ordinal)
        self._remove_vm(ctx, pool, guest, victim)
        metrics.worker_repairs.inc()
        ctx.event("Warning", "WorkerRepaired", f"{victim} replaced: {unhealthy[victim]}")

    # -- 4. clean up ---------------------------------------------------------------------------------------------------
    def _clean_up(self, ctx: KVMContext, pool: Pool, guest: KubeClient) -> None:
        """Delete guest Nodes of this pool whose VM is gone for good (scaled away, or the pool removed)."""
        for name in list(pool.nodes):
            if name in pool.pods or not name.startswith(f"{key.pool_workload(pool.name)}-"):
                continue
            if not name.rsplit("-", 1)[1].isdigit() or ordinal(name) < pool.have:
                continue  # its pod is coming back: the StatefulSet keeps that ordinal
            guest.delete(NODE, name)
            del pool.nodes[name]
            ctx.event("Normal", "NodeRemoved", f"guest Node {name} removed: its VM is gone")

    # -- status --------------------------------------------------------------------------------------------------------
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

    @staticmethod
    def _why_not_ready(pool: Pool, name: str) -> str:
        """The node's name, with the scheduler's reason when its VM's pod cannot be placed."""
        scheduled = get_condition(pool.pods[name].get("status") or {}, "PodScheduled") or {}
        if scheduled.get("status") == "False" and scheduled.get("message"):
            return f"{name} unschedulable: {scheduled['message'][:200]}"
        return name

    def _report(self, ctx: KVMContext, pools: list[Pool], waiting: str | None) -> None:
        statuses, problems = [], [p for pool in pools for p in pool.problems]
        version = ctx.status.kubernetes_version
        for pool in pools:
            revision = pool.update_revision()
            nodes = []
            for name in sorted(pool.pods, key=ordinal):
                node = pool.nodes.get(name)
                pod_revision = pool.pods[name]["metadata"].get("labels", {}).get(REVISION_LABEL)
                nodes.append(
                    NodeStatus(
                        name=name,
                        ready=node_ready(node) and not self._cordoned(node),
                        version=((node or {}).get("status") or {}).get("nodeInfo", {}).get("kubeletVersion"),
                        accelerator=(node or {}).get("metadata", {}).get("labels", {}).get(ACCELERATOR_LABEL),
                        up_to_date=bool(revision) and pod_revision == revision,
                    )
                )
            status = PoolStatus(
                name=pool.name,
                desired=pool.want,
                ready=sum(n.ready for n in nodes if ordinal(n.name) < pool.want),
                up_to_date=sum(n.up_to_date for n in nodes if ordinal(n.name) < pool.want),
                version=version,
                nodes=nodes,
            )
            statuses.append(status)
            if status.ready < pool.want and not pool.problems:
                missing = [self._why_not_ready(pool, n.name) for n in nodes if not n.ready]
                missing = missing or [f"{pool.want - len(nodes)} VM(s) to start"]
                problems.append(f"{pool.name}: {status.ready}/{pool.want} Ready ({', '.join(missing[:3])})")
            elif (status.up_to_date < pool.want or pool.have != pool.want) and not pool.problems:
                problems.append(f"{pool.name}: {status.up_to_date}/{pool.want} up to date")
        ctx.status.worker_pools = statuses
        ready, desired = sum(s.ready for s in statuses), sum(s.desired for s in statuses)
        ctx.status.workers = f"{ready}/{desired}"
        if waiting:
            problems.insert(0, waiting)
        problems = list(dict.fromkeys(problems))  # the guest's silence, said once for all pools
        if problems:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            ctx.set_condition(WORKERS_READY, "False", "NotReady", ("; ".join(problems[:3]) + more)[:1000])
        elif not pools:
            ctx.set_condition(WORKERS_READY, "True", "NoWorkers", "no worker pools")
        else:
            ctx.set_condition(
                WORKERS_READY,
                "True",
                "Ready",
                f"{ready} worker Node(s) Ready and up to date in {len(pools)} pool(s), Kubernetes {version}",
            )
        metrics.workers_ready.labels(ctx.namespace or "", ctx.name).set(0 if problems else 1)
