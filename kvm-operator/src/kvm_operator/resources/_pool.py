"""One worker pool as a pass of :mod:`kvm_operator.resources.worker_pools` sees it — its spec, StatefulSet, VM pods
and guest Nodes — and those read into the rows :mod:`kvm_operator.pool_policy` decides on."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kvm_operator.pool_policy import VM, Certificate, Node
from kvm_operator.resources._workers import replicas
from kvm_operator.resources.boot_configs import BOOT_ANNOTATION
from operatorkit import get_condition, is_true, timestamps

if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable

    from kvm_operator.spec import WorkerPool
    from operatorkit import Object

REVISION_LABEL = "controller-revision-hash"


def node_ready(node: Object | None) -> bool:
    return node is not None and is_true(node.get("status"), "Ready")


def cordoned(node: Object | None) -> bool:
    return bool(node and (node.get("spec") or {}).get("unschedulable"))


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

    def vms(self, boot: Object | None, issued: Callable[[str], Object | None]) -> list[VM]:
        """The pool's VM pods with their Nodes, node certificates (``issued``: a node's CertConfig) and what the
        boot Secret ``boot`` holds for them now."""
        record = ((boot or {}).get("metadata") or {}).get("annotations", {}).get(BOOT_ANNOTATION)
        serials: dict[str, str] = json.loads(record)["serials"] if record else {}
        return [vm(pod, self.nodes.get(name), issued(name), serials.get(name)) for name, pod in self.pods.items()]


def vm(pod: Object, node: Object | None, config: Object | None, boot_serial: str | None) -> VM:
    """A VM pod, its guest Node and its node certificate's CertConfig as the policies read them."""
    meta, status = pod["metadata"], pod.get("status") or {}
    issued = (config or {}).get("status") or {}
    return VM(
        name=meta["name"],
        created=moment(meta.get("creationTimestamp")),
        started=moment(status.get("startTime")),
        deleting=bool(meta.get("deletionTimestamp")),
        revision=(meta.get("labels") or {}).get(REVISION_LABEL),
        node=None if node is None else guest_node(node),
        certificate=(
            Certificate(str(issued["serial"]), not_before)
            if issued.get("serial") and (not_before := moment(issued.get("notBefore")))
            else None
        ),
        boot_serial=boot_serial,
    )


def guest_node(node: Object) -> Node:
    ready = get_condition(node.get("status") or {}, "Ready") or {}
    return Node(
        ready=ready.get("status") == "True",
        since=moment(ready.get("lastTransitionTime")),
        reason=str(ready.get("reason", "unknown")),
        cordoned=cordoned(node),
    )


def moment(value: object) -> datetime.datetime | None:
    """A recorded time, or None where there is none (or none that reads as one)."""
    try:
        return timestamps.parse(value) if isinstance(value, str) and value else None
    except ValueError:
        return None
