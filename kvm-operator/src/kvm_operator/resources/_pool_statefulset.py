"""A worker pool's StatefulSet ``worker-<pool>``: one VM pod per guest Node, node name = pod name, started in
parallel, spread across mother nodes, and replaced only by :mod:`kvm_operator.resources.worker_pools` (update
strategy ``OnDelete``: it drains a Node before its VM goes). The template carries the Kubernetes version and the
hash of the boot configuration's inputs, so a change of either is a new revision: the pool rolls."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvm_operator import key
from kvm_operator.resources._pod import anti_affinity
from kvm_operator.resources.boot_configs import BOOT_ANNOTATION, inputs_hash
from kvm_operator.versions import VERSION_ANNOTATION
from kvm_operator.vmpod import VMPod
from operatorkit import CLUSTER_LABEL

if TYPE_CHECKING:
    from kvm_operator.shared import Shared
    from kvm_operator.spec import KVMContext, WorkerPool
    from operatorkit import Object


def statefulset(ctx: KVMContext, shared: Shared, spec: WorkerPool, count: int, version: str, network: str) -> Object:
    settings = shared.settings
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
    pod_spec["affinity"] = anti_affinity(key.labels(cluster), settings.vms.spread)
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
                        BOOT_ANNOTATION: inputs_hash(ctx, shared, spec),
                    },
                },
                "spec": pod_spec,
            },
        },
    }
