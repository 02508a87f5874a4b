"""What a KVMConfig or AWSConfig says about its guest, read the same way for both kinds, and the ``get clusters``
table. Pure functions of the objects (and the time): the table tests need no server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from operatorkit import timestamps

if TYPE_CHECKING:
    import datetime
    from collections.abc import Mapping, Sequence

    from operatorkit import Object


@dataclass(frozen=True)
class Cluster:
    namespace: str
    name: str
    kind: str  # KVMConfig or AWSConfig
    cluster_id: str
    version: str  # what runs; "running→wanted" while an upgrade is asked for
    workers: str  # ready/desired
    ready: str  # the Ready condition's status
    reason: str
    endpoint: str
    created: datetime.datetime | None
    control_plane: str  # ready/desired API servers (KVM) or masters (AWS)
    location: str  # AWS: the region; KVM: empty


def parse_time(value: str | None) -> datetime.datetime | None:
    """An API server's timestamp, read as every operator reads one (:func:`operatorkit.timestamps.parse`)."""
    return timestamps.parse(value) if value else None


def condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), None)


def desired_workers(obj: Mapping[str, Any]) -> int:
    """Workers the spec asks for: a KVM pool's ``replicas`` (default 1), an AWS pool's ``desired`` (default 1)."""
    field = "replicas" if obj.get("kind") == "KVMConfig" else "desired"
    return sum(int(pool.get(field, 1)) for pool in (obj.get("spec") or {}).get("workerPools") or [])


def endpoint(obj: Mapping[str, Any]) -> str:
    """Where the guest's API is: ``status.endpoint`` (KVM: what ingress-operator published for the IngressConfig;
    AWS: the stack's ``APIEndpoint`` output). Empty until the operator has one."""
    return str((obj.get("status") or {}).get("endpoint") or "")


def summarize(obj: Object) -> Cluster:
    spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, obj["metadata"]
    running, wanted = status.get("kubernetesVersion"), spec.get("kubernetesVersion", "")
    version = wanted if not running or running == wanted else f"{running}→{wanted}"
    ready = condition(obj, "Ready") or {}
    is_kvm = obj.get("kind") == "KVMConfig"
    return Cluster(
        namespace=meta.get("namespace", ""),
        name=meta["name"],
        kind=str(obj.get("kind", "")),
        cluster_id=str(spec.get("clusterID", meta["name"])),
        version=version,
        workers=str(status.get("workers") or f"-/{desired_workers(obj)}"),
        ready=str(ready.get("status", "Unknown")),
        reason=str(ready.get("reason", "")),
        endpoint=endpoint(obj),
        created=parse_time(meta.get("creationTimestamp")),
        control_plane=str(status.get("controlPlaneReady" if is_kvm else "masters") or ""),
        location="" if is_kvm else str(spec.get("region", "")),
    )


def age(created: datetime.datetime | None, now: datetime.datetime) -> str:
    """kubectl's short age: 45s, 12m, 5h, 3d (and 2y)."""
    if created is None:
        return "<unknown>"
    seconds = max(0, int((now - created).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "d" else 1):
            if unit == "d" and seconds >= 365 * 86400:
                return f"{seconds // (365 * 86400)}y"
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def columns(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns three spaces apart, as kubectl prints them."""
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def table(
    clusters: Sequence[Cluster],
    organizations: Mapping[str, str],
    now: datetime.datetime,
    *,
    all_namespaces: bool = False,
    wide: bool = False,
) -> str:
    """The ``get clusters`` table: NAMESPACE (with ``-A``), ORGANIZATION, NAME, KIND, VERSION, WORKERS, READY,
    ENDPOINT, AGE; ``wide`` adds the cluster id, the control plane, the region and the Ready reason."""
    header = ["ORGANIZATION", "NAME", "KIND", "VERSION", "WORKERS", "READY", "ENDPOINT", "AGE"]
    if wide:
        header += ["CLUSTER ID", "CONTROL PLANE", "REGION", "REASON"]
    if all_namespaces:
        header.insert(0, "NAMESPACE")
    rows = [header]
    for c in sorted(clusters, key=lambda c: (c.namespace, c.name, c.kind)):
        row = [
            organizations.get(c.namespace, "") or "<none>",
            c.name,
            c.kind,
            c.version,
            c.workers,
            c.ready,
            c.endpoint or "<none>",
            age(c.created, now),
        ]
        if wide:
            row += [c.cluster_id, c.control_plane or "<none>", c.location or "<none>", c.reason or "<none>"]
        if all_namespaces:
            row.insert(0, c.namespace)
        rows.append(row)
    return columns(rows)


def as_list(items: Sequence[Object]) -> dict[str, Any]:
    """A ``v1 List`` of the objects, as ``kubectl get -o json|yaml`` prints several kinds."""
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": list(items)}
