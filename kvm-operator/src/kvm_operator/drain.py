"""Draining a guest Node before its VM goes, as ``kubectl drain`` does it: cordon, then evict every pod that is not
a DaemonSet's or a mirror pod, through the Eviction API — so PodDisruptionBudgets are honoured and the guest's
events show each eviction. A pass never waits: it evicts what it may and reports; the caller calls again.

When the drain started is an annotation on the Node, so a restarted operator (or the other replica) keeps counting
from the same moment; past the timeout the drain counts as done — the VM goes, and the caller says so (Cluster
API's ``nodeDrainTimeout``)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from operatorkit import ApiError, timestamps
from operatorkit.kinds import EVENT, NODE, POD

if TYPE_CHECKING:
    import datetime

    from operatorkit import KubeClient, Object

DRAIN_STARTED = "kubeception.io/drain-started"


@dataclass(frozen=True)
class Drained:
    done: bool
    message: str
    timed_out: bool = False
    started: datetime.datetime | None = None


def _evictable(pod: Object) -> bool:
    meta, status = pod["metadata"], pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return False
    if "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
        return False  # a static pod: the kubelet's, gone with the node
    return not any(ref.get("kind") == "DaemonSet" for ref in meta.get("ownerReferences") or [])


def _evict(guest: KubeClient, pod: Object, node: str) -> str | None:
    """Ask for the pod's eviction; why it was refused (a PodDisruptionBudget), or None. An evicted pod gets an
    Event in the guest saying who evicted it and why (``kubectl drain`` leaves none: a user would wonder)."""
    meta = pod["metadata"]
    body: dict[str, Any] = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
    }
    try:
        guest.request("POST", POD.path(meta["namespace"], meta["name"], "eviction"), body=body, retry=False)
    except ApiError as exc:
        if exc.not_found:
            return None
        if exc.status == 429:  # the budget does not allow it now
            return f"{meta['namespace']}/{meta['name']}: {exc.message}"
        raise
    moment = timestamps.stamp()
    event = {
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]},
        "type": "Normal",
        "reason": "Evicted",
        "message": f"Evicted by kvm-operator to drain Node {node} before its VM goes",
        "source": {"component": "kvm-operator"},
        "firstTimestamp": moment,
        "lastTimestamp": moment,
        "count": 1,
    }
    with contextlib.suppress(ApiError):  # the record, not the eviction: never worth failing the drain over
        guest.create(EVENT, event)
    return None


def drain_started(node: Object, now: datetime.datetime) -> datetime.datetime | None:
    """When the drain of a cordoned Node started, as recorded on it — None when it is not cordoned or the record is
    no moment up to ``now``: the guest's admin (root on the node) can write the annotation, and a value that does
    not parse, or lies in the future, only restarts the clock (never an error that stops the pool's reconcile)."""
    recorded = (node["metadata"].get("annotations") or {}).get(DRAIN_STARTED)
    if not recorded or not (node.get("spec") or {}).get("unschedulable"):
        return None
    try:
        started = timestamps.parse(str(recorded)[:64])
    except ValueError:
        return None
    return started if started <= now else None


def cordon(guest: KubeClient, node: Object) -> datetime.datetime:
    """Mark the Node unschedulable and record when its drain started (unless it did already); that moment."""
    now = timestamps.now()
    recorded = drain_started(node, now)
    if recorded is not None:
        return recorded
    started = now
    guest.patch(
        NODE,
        node["metadata"]["name"],
        {"spec": {"unschedulable": True}, "metadata": {"annotations": {DRAIN_STARTED: timestamps.stamp(started)}}},
    )
    return started


def drain(guest: KubeClient, node: Object, timeout: float) -> Drained:
    """One pass of draining ``node``: done once no evictable pod is left on it, or the timeout passed."""
    name = node["metadata"]["name"]
    started = cordon(guest, node)
    pods = guest.list(POD, field_selector=f"spec.nodeName={name}")["items"]
    left = [pod for pod in pods if _evictable(pod)]
    if not left:
        return Drained(True, f"{name} drained", started=started)
    if (timestamps.now() - started).total_seconds() >= timeout:
        names = ", ".join(f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in left[:3])
        return Drained(
            True,
            f"drain of {name} timed out after {timeout:.0f} s, {len(left)} pod(s) left ({names}): its VM goes anyway",
            timed_out=True,
            started=started,
        )
    going = [pod for pod in left if not pod["metadata"].get("deletionTimestamp")]
    refused = [why for pod in going if (why := _evict(guest, pod, name))]
    message = f"draining {name}: {len(left)} pod(s) to go"
    if refused:
        message += f"; evictions refused: {'; '.join(refused[:2])}"
    return Drained(False, message[:500], started=started)
