"""Kubernetes version skew rules and the upgrade order of the control plane.

Rules (Kubernetes' own version-skew policy for a control plane): no minor downgrade (etcd's data is upgraded with
it), one minor at a time, only versions this installation has images for. Patch versions move either way. Order:
etcd, then the API server, then controller-manager and scheduler — each starts once the one before runs the
target version on every replica and is available.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvm_operator import key
from kvm_operator.spec import parse_version

if TYPE_CHECKING:
    from collections.abc import Sequence

    from operatorkit import Object

ORDER = (key.ETCD, key.APISERVER, key.CONTROLLER_MANAGER, key.SCHEDULER)
VERSION_ANNOTATION = "kubeception.io/kubernetes-version"


def skew_problem(running: str | None, wanted: str, supported: Sequence[str]) -> str | None:
    """Why the control plane cannot go from ``running`` to ``wanted`` (None: it can)."""
    if wanted not in supported:
        return f"Kubernetes {wanted} is not supported here (supported: {', '.join(supported)})"
    if running is None or running == wanted:
        return None
    (was, _), (will, _) = parse_version(running), parse_version(wanted)
    if will < was:
        return f"{running} → {wanted} is a minor downgrade, which Kubernetes does not support"
    if will > was + 1:
        return f"{running} → {wanted} skips a minor version: upgrade to 1.{was + 1}.x first"
    return None


def version_of(workload: Object | None) -> str | None:
    if workload is None:
        return None
    version = workload["metadata"].get("annotations", {}).get(VERSION_ANNOTATION)
    return str(version) if version else None


def rolled(workload: Object | None, version: str) -> bool:
    """Whether every replica of ``workload`` runs ``version`` and is available (Deployment or StatefulSet)."""
    if workload is None or version_of(workload) != version:
        return False
    spec, status = workload.get("spec") or {}, workload.get("status") or {}
    replicas = int(spec.get("replicas", 1))
    if int(status.get("observedGeneration", 0)) < int(workload["metadata"].get("generation", 0)):
        return False
    if workload.get("kind") == "StatefulSet":
        return bool(
            status.get("updateRevision") == status.get("currentRevision")
            and int(status.get("readyReplicas", 0)) == replicas
        )
    return int(status.get("updatedReplicas", 0)) == replicas and int(status.get("availableReplicas", 0)) == replicas


def available(workload: Object | None) -> bool:
    """Whether ``workload`` has as many available replicas as it asks for — on whatever version (a roll with surge
    keeps an API server available throughout; a single etcd member being replaced does not)."""
    if workload is None:
        return False
    replicas = int((workload.get("spec") or {}).get("replicas", 1))
    return int((workload.get("status") or {}).get("availableReplicas", 0)) >= replicas


def component_version(component: str, target: str, workloads: dict[str, Object | None]) -> str:
    """The version ``component`` should run now: the target once every component before it has rolled to it,
    else what it runs already (a new component starts at the target)."""
    earlier = ORDER[: ORDER.index(component)]
    if all(rolled(workloads.get(other), target) for other in earlier):
        return target
    return version_of(workloads.get(component)) or target
