"""Cluster lifecycle SLIs in the style of HyperShift's: time from creation to first available, upgrade and
deletion durations (histograms), and readiness per cluster (sum it for clusters by condition)."""

from __future__ import annotations

import contextlib
import datetime
from typing import TYPE_CHECKING

from prometheus_client import Gauge, Histogram

if TYPE_CHECKING:
    from kvm_operator.spec import KVMContext

_BUCKETS = (5, 10, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)
_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

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


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime(_FORMAT)


def _since(stamp: str) -> float:
    then = datetime.datetime.strptime(stamp, _FORMAT).replace(tzinfo=datetime.UTC)
    return max(0.0, (datetime.datetime.now(datetime.UTC) - then).total_seconds())


def first_available(ctx: KVMContext) -> str:
    time_to_available.observe(_since(ctx.obj["metadata"]["creationTimestamp"]))
    return now()


def upgrade_started(ctx: KVMContext) -> None:
    ctx.status["upgradeStartedAt"] = now()


def upgrade_finished(ctx: KVMContext) -> None:
    if started := ctx.status.pop("upgradeStartedAt", None):
        upgrade_duration.observe(_since(started))


def deleted(ctx: KVMContext) -> None:
    if stamp := ctx.obj["metadata"].get("deletionTimestamp"):
        deletion_duration.observe(_since(stamp))
    with contextlib.suppress(KeyError):
        ready.remove(ctx.namespace or "", ctx.name)
