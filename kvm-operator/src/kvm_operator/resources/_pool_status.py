"""What the worker pools report: per pool its desired, Ready and up-to-date VMs and each Node's state, the
``workers`` column, and ``WorkersReady`` — False with what each pool waits for, True once every VM is Ready and up
to date (the guest's own word, read from its Nodes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvm_operator import key, metrics
from kvm_operator.launcher.vm import ACCELERATOR_LABEL
from kvm_operator.resources._pool import REVISION_LABEL, cordoned, node_ready
from kvm_operator.spec import NodeStatus, PoolStatus
from operatorkit import get_condition

if TYPE_CHECKING:
    from kvm_operator.resources._pool import Pool
    from kvm_operator.spec import KVMContext

WORKERS_READY = "WorkersReady"


def why_not_ready(pool: Pool, name: str) -> str:
    """The node's name, with the scheduler's reason when its VM's pod cannot be placed."""
    scheduled = get_condition(pool.pods[name].get("status") or {}, "PodScheduled") or {}
    if scheduled.get("status") == "False" and scheduled.get("message"):
        return f"{name} unschedulable: {scheduled['message'][:200]}"
    return name


def report(ctx: KVMContext, pools: list[Pool], waiting: str | None) -> None:
    statuses, problems = [], [p for pool in pools for p in pool.problems]
    version = ctx.status.kubernetes_version
    for pool in pools:
        revision = pool.update_revision()
        nodes = []
        for name in sorted(pool.pods, key=key.ordinal):
            node = pool.nodes.get(name)
            pod_revision = pool.pods[name]["metadata"].get("labels", {}).get(REVISION_LABEL)
            nodes.append(
                NodeStatus(
                    name=name,
                    ready=node_ready(node) and not cordoned(node),
                    version=((node or {}).get("status") or {}).get("nodeInfo", {}).get("kubeletVersion"),
                    accelerator=(node or {}).get("metadata", {}).get("labels", {}).get(ACCELERATOR_LABEL),
                    up_to_date=bool(revision) and pod_revision == revision,
                )
            )
        status = PoolStatus(
            name=pool.name,
            desired=pool.want,
            ready=sum(n.ready for n in nodes if key.ordinal(n.name) < pool.want),
            up_to_date=sum(n.up_to_date for n in nodes if key.ordinal(n.name) < pool.want),
            version=version,
            nodes=nodes,
        )
        statuses.append(status)
        if status.ready < pool.want and not pool.problems:
            missing = [why_not_ready(pool, n.name) for n in nodes if not n.ready]
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
