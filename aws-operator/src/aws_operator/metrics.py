"""What aws-operator exports beyond operatorkit's reconcile metrics: every AWS call (for the cost per cluster),
stack operations by result and duration, and per cluster whether it is Ready, drifted, lost external state or
waits for a change set's approval (gauges: sum them for alerts)."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge, Histogram

from operatorkit import precreate, timestamps

OPERATIONS = ("create", "update", "delete")
RESULTS = ("succeeded", "failed")

api_calls = Counter(
    "kubeception_aws_api_calls_total",
    "AWS API calls, by service, operation and outcome (ok, error: AWS refused or the call failed)",
    ["service", "operation", "outcome"],
)
stack_operations = Counter(
    "kubeception_aws_stack_operations_total",
    "CloudFormation stack operations finished, by operation (create, update, delete) and result",
    ["operation", "result"],
)
stack_operation_duration = Histogram(
    "kubeception_aws_stack_operation_duration_seconds",
    "From a change set executed (or a deletion asked for) to the stack's final state, by operation",
    ["operation"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)
change_sets = Counter(
    "kubeception_aws_change_sets_total",
    "Change sets made, by what happened to them: executed, waiting (for approval), empty (no change), failed",
    ["outcome"],
)
ready = Gauge(
    "kubeception_aws_cluster_ready", "1 while the cluster's Ready condition is True", ["namespace", "cluster"]
)
drifted = Gauge(
    "kubeception_aws_cluster_drifted",
    "1 while the cluster's stack differs from what it created (a resource gone, a size or template changed)",
    ["namespace", "cluster"],
)
state_lost = Gauge(
    "kubeception_aws_cluster_state_lost",
    "1 while external state the cluster had (its stack, bucket or key) is gone and was not recreated",
    ["namespace", "cluster"],
)
approval_pending = Gauge(
    "kubeception_aws_change_set_approval_pending",
    "1 while a change set that replaces masters waits for its approval annotation",
    ["namespace", "cluster"],
)
PER_CLUSTER = (ready, drifted, state_lost, approval_pending)
precreate(stack_operations, *[(operation, result) for operation in OPERATIONS for result in RESULTS])
precreate(change_sets, *[(outcome,) for outcome in ("executed", "waiting", "empty", "failed")])


def finished(operation: str, succeeded: bool, started_at: str | None) -> None:
    """Count a stack operation that reached its final state (``started_at``: ``updatedAt`` of its start)."""
    stack_operations.labels(operation, RESULTS[0] if succeeded else RESULTS[1]).inc()
    if started_at:
        stack_operation_duration.labels(operation).observe(timestamps.since(started_at))


def forget(namespace: str, cluster: str) -> None:
    for gauge in PER_CLUSTER:
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, cluster)
