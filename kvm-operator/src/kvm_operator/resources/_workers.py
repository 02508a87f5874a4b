"""What the worker resources read alike: the pools (in the spec, and those removed from it whose StatefulSet is
still there), their StatefulSets and VM pods from the cache, and how many nodes each pool may have."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvm_operator import key
from kvm_operator.shared import FLANNEL_CONFIG
from operatorkit import owned_by
from operatorkit.kinds import NAMESPACE, POD, STATEFUL_SET

if TYPE_CHECKING:
    from kvm_operator.spec import KVMContext, WorkerPool
    from operatorkit import Object


def statefulsets(ctx: KVMContext) -> dict[str, Object]:
    """The pools' StatefulSets that are ours, by pool name."""
    namespace = key.workers_namespace(ctx.name)
    return {
        obj["metadata"]["labels"][key.POOL_LABEL]: obj
        for obj in ctx.cache(STATEFUL_SET).by_index(key.CLUSTER_INDEX, ctx.name)
        if obj["metadata"].get("namespace") == namespace
        and key.POOL_LABEL in obj["metadata"].get("labels", {})
        and owned_by(obj, ctx.obj)
    }


def owns_workers_namespace(ctx: KVMContext) -> bool:
    """Whether the workers' namespace is this KVMConfig's (its owner labels carry this object's uid). What is in it
    is then this cluster's by containment; a KVMConfig refused for a cluster id another one holds reads the same
    namespace name, and must neither wait for nor touch the VMs in it."""
    found = ctx.cache(NAMESPACE).get_by_name(key.workers_namespace(ctx.name))
    return found is not None and owned_by(found, ctx.obj)


def pods(ctx: KVMContext) -> dict[str, dict[str, Object]]:
    """The VM pods by pool, then by name (= node name): in the workers' namespace when it is this KVMConfig's, those
    the pool's StatefulSet controls, and no pod that merely carries its labels — only these are ever deleted to
    replace a VM, or waited for at deletion. Selected by ownership, not by name: they are still found while their
    StatefulSet, deleted in the background, is already gone."""
    namespace = key.workers_namespace(ctx.name)
    found: dict[str, dict[str, Object]] = {}
    if not owns_workers_namespace(ctx):
        return found
    for pod in ctx.cache(POD).by_index(key.CLUSTER_INDEX, ctx.name):
        meta = pod["metadata"]
        pool = meta.get("labels", {}).get(key.POOL_LABEL)
        if not pool or meta.get("namespace") != namespace:
            continue
        controller: dict[str, str] = next((r for r in meta.get("ownerReferences") or [] if r.get("controller")), {})
        if (controller.get("kind"), controller.get("name")) == ("StatefulSet", key.pool_workload(pool)):
            found.setdefault(pool, {})[meta["name"]] = pod
    return found


def pool_specs(ctx: KVMContext) -> dict[str, WorkerPool | None]:
    """Every pool to look after: the spec's, and (as None: to be drained away) those only a StatefulSet remains of."""
    found: dict[str, WorkerPool | None] = dict.fromkeys(statefulsets(ctx))
    spec = ctx.valid_spec
    if spec is not None and not ctx.deleting:
        found |= {pool.name: pool for pool in spec.worker_pools}
    return found


def replicas(workload: Object | None) -> int:
    return int(((workload or {}).get("spec") or {}).get("replicas", 0))


def node_count(ctx: KVMContext, pool: str, spec: WorkerPool | None) -> int:
    """How many nodes the pool has or will have: ordinals below this may exist (spec, StatefulSet or a pod)."""
    workload = statefulsets(ctx).get(pool)
    existing = [key.ordinal(name) + 1 for name in pods(ctx).get(pool, {})]
    return max([spec.replicas if spec else 0, replicas(workload), *existing])


def bridge(ctx: KVMContext) -> str | None:
    """The cluster's flannel bridge on every host, once flannel-operator made it."""
    flannel = ctx.cache(FLANNEL_CONFIG).get_by_name(ctx.name)
    found = ((flannel or {}).get("status") or {}).get("bridge")
    return str(found) if found else None
