"""Prometheus metrics under the names controller-runtime uses, so existing dashboards and alerts work.

They live in the default registry next to the process collector. Every label combination a controller can
produce is created at zero when the controller starts (:func:`zero_controller_series`), so rates and alerts
work from the first scrape; operators pre-create their own series with :func:`precreate`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import prometheus_client
from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

RECONCILE_RESULTS = ("success", "error", "requeue", "requeue_after")
_RECONCILE_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0,
    1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
)  # fmt: skip
_QUEUE_BUCKETS = tuple(10.0**exponent for exponent in range(-8, 4))  # 1e-8 ... 1e3 s

reconcile_total = Counter(
    "controller_runtime_reconcile_total",
    "Total number of reconciliations per controller",
    ["controller", "result"],
)
reconcile_errors_total = Counter(
    "controller_runtime_reconcile_errors_total",
    "Total number of reconciliation errors per controller",
    ["controller"],
)
terminal_reconcile_errors_total = Counter(
    "controller_runtime_terminal_reconcile_errors_total",
    "Total number of terminal reconciliation errors per controller",
    ["controller"],
)
reconcile_panics_total = Counter(
    "controller_runtime_reconcile_panics_total",
    "Total number of reconciliation panics (unexpected exceptions) per controller",
    ["controller"],
)
reconcile_time_seconds = Histogram(
    "controller_runtime_reconcile_time_seconds",
    "Length of time per reconciliation per controller",
    ["controller"],
    buckets=_RECONCILE_BUCKETS,
)
max_concurrent_reconciles = Gauge(
    "controller_runtime_max_concurrent_reconciles",
    "Maximum number of concurrent reconciles per controller",
    ["controller"],
)
active_workers = Gauge(
    "controller_runtime_active_workers", "Number of currently used workers per controller", ["controller"]
)

workqueue_depth = Gauge("workqueue_depth", "Current depth of workqueue", ["name", "controller"])
workqueue_adds_total = Counter(
    "workqueue_adds_total", "Total number of adds handled by workqueue", ["name", "controller"]
)
workqueue_retries_total = Counter(
    "workqueue_retries_total", "Total number of retries handled by workqueue", ["name", "controller"]
)
workqueue_queue_duration_seconds = Histogram(
    "workqueue_queue_duration_seconds",
    "How long in seconds an item stays in workqueue before being requested",
    ["name", "controller"],
    buckets=_QUEUE_BUCKETS,
)
workqueue_work_duration_seconds = Histogram(
    "workqueue_work_duration_seconds",
    "How long in seconds processing an item from workqueue takes",
    ["name", "controller"],
    buckets=_QUEUE_BUCKETS,
)
workqueue_unfinished_work_seconds = Gauge(
    "workqueue_unfinished_work_seconds",
    "How many seconds of work has been done that is in progress and hasn't been observed by "
    "work_duration. Large values indicate stuck threads.",
    ["name", "controller"],
)
workqueue_longest_running_processor_seconds = Gauge(
    "workqueue_longest_running_processor_seconds",
    "How many seconds has the longest running processor for workqueue been running.",
    ["name", "controller"],
)

leader_election_master_status = Gauge(
    "leader_election_master_status",
    "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master.",
    ["name"],
)
resource_step_seconds = Histogram(
    "operatorkit_resource_step_duration_seconds",
    "Time one resource of a controller took for one step: create (the object exists) or delete (it goes)",
    ["controller", "resource", "step"],
    buckets=_RECONCILE_BUCKETS,
)
reconcile_throttled_total = Counter(
    "operatorkit_reconcile_throttled_total",
    "Reconciles of one object delayed because it was reconciled too often (a requeue or event storm)",
    ["controller"],
)
deletion_waiting_seconds = Gauge(
    "operatorkit_deletion_waiting_seconds",
    "How long the oldest deletion this controller holds (its finalizer kept: dependents or external state not gone"
    " yet) has waited since it was requested; 0 when none is held. The object's Ready condition says what it waits for",
    ["controller"],
)
rest_client_requests_total = Counter(
    "rest_client_requests_total",
    "Number of HTTP requests, partitioned by status code, method, and host.",
    ["code", "method", "host"],
)


def precreate(metric: Counter | Gauge | Histogram, *label_sets: Sequence[str]) -> None:
    """Create ``metric``'s series for each of ``label_sets`` at zero, so a rate or an alert works before the
    first event (a series that does not exist yet is not zero to PromQL)."""
    for labels in label_sets:
        metric.labels(*labels)


def zero_controller_series(controller: str, workers: int, resources: Iterable[str] = ()) -> None:
    """Create every series of ``controller`` at zero (counters) or its start value (gauges)."""
    precreate(reconcile_total, *[(controller, result) for result in RECONCILE_RESULTS])
    metric: Counter | Gauge | Histogram
    for metric in (
        reconcile_errors_total,
        terminal_reconcile_errors_total,
        reconcile_panics_total,
        reconcile_time_seconds,
        reconcile_throttled_total,
    ):
        precreate(metric, (controller,))
    max_concurrent_reconciles.labels(controller).set(workers)
    active_workers.labels(controller).set(0)
    for metric in (
        workqueue_depth,
        workqueue_adds_total,
        workqueue_retries_total,
        workqueue_queue_duration_seconds,
        workqueue_work_duration_seconds,
        workqueue_unfinished_work_seconds,
        workqueue_longest_running_processor_seconds,
    ):
        precreate(metric, (controller, controller))
    precreate(resource_step_seconds, *[(controller, r, s) for r in resources for s in ("create", "delete")])
