"""Cluster lifecycle SLIs in the style of HyperShift's: time from creation to first available, upgrade and
deletion durations (histograms), and readiness per cluster (sum it for clusters by condition)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

from operatorkit.timestamps import since, stamp

if TYPE_CHECKING:
    from kvm_operator.spec import KVMContext

_BUCKETS = (5, 10, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)

time_to_available = Histogram(
    "kubeception_kvm_cluster_time_to_available_seconds",
    "From a KVMConfig's creation to its cluster first Ready",
    buckets=_BUCKETS,
)
upgrade_duration = Histogram(
    "kubeception_kvm_cluster_upgrade_duration_seconds",
    "Control-plane upgrades, from the first component rolling to the last one rolled",
    buckets=_BUCKETS,
)
deletion_duration = Histogram(
    "kubeception_kvm_cluster_deletion_duration_seconds",
    "From a KVMConfig's deletion requested to everything of its cluster gone",
    buckets=_BUCKETS,
)
ready = Gauge(
    "kubeception_kvm_cluster_ready", "1 while the cluster's Ready condition is True", ["namespace", "cluster"]
)
workers_ready = Gauge(
    "kubeception_kvm_cluster_workers_ready",
    "1 while every worker pool of the cluster has all its Nodes Ready and up to date (WorkersReady)",
    ["namespace", "cluster"],
)
worker_boot_duration = Histogram(
    "kubeception_kvm_worker_boot_duration_seconds",
    "From a worker VM's pod created to its guest Node Ready (both as the API servers recorded them)",
    buckets=(10, 20, 30, 45, 60, 90, 120, 180, 300, 600),
)
worker_drain_duration = Histogram(
    "kubeception_kvm_worker_drain_duration_seconds",
    "Draining a guest Node before its VM goes: drained, or timed_out (the VM went with pods left)",
    ["outcome"],
    buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1800),
)
worker_repairs = Counter(
    "kubeception_kvm_worker_repairs_total",
    "Worker VMs replaced because their guest Node was not Ready (or never registered) for too long",
)
worker_replacements = Counter(
    "kubeception_kvm_worker_replacements_total",
    "Worker VMs replaced by a roll: a new version or shape, or a renewed node certificate",
    ["reason"],
)


def first_available(ctx: KVMContext) -> str:
    time_to_available.observe(since(ctx.obj["metadata"]["creationTimestamp"]))
    return stamp()


def upgrade_started(ctx: KVMContext) -> None:
    ctx.status.upgrade_started_at = stamp()


def upgrade_finished(ctx: KVMContext) -> None:
    started, ctx.status.upgrade_started_at = ctx.status.upgrade_started_at, None
    if started:
        upgrade_duration.observe(since(started))


def deleted(ctx: KVMContext) -> None:
    if stamp := ctx.obj["metadata"].get("deletionTimestamp"):
        deletion_duration.observe(since(stamp))
    for gauge in (ready, workers_ready):
        with contextlib.suppress(KeyError):
            gauge.remove(ctx.namespace or "", ctx.name)
