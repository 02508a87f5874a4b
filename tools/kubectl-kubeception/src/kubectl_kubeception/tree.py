"""``describe cluster``: the cluster, what it is made of and how each part is, as a tree of conditions — the way
``clusterctl describe cluster`` shows a Cluster API cluster.

The rows come from what the operators write: the cluster's own conditions (kvm-operator: CertificatesReady,
NetworkReady, EndpointReady, ControlPlaneAvailable, Upgrading, WorkersReady, AddonsReady, Ready; aws-operator: its
own), the children the operator made (found by the ``kubeception.io/cluster`` label: the CAConfig and CertConfigs in
the control-plane namespace ``<clusterID>``; the FlannelConfig and IngressConfig named ``<clusterID>``), its worker
pools and nodes from ``status.workerPools``, its add-ons from the spec and ``AddonsReady``. A part the caller may not
read (members read their clusters, not the operators' children) is shown as such, never guessed. Pure: built from
objects, rendered to text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubectl_kubeception.clusters import age, columns, condition, parse_time

if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable, Mapping, Sequence

    from operatorkit import Object

MESSAGE_WIDTH = 100


@dataclass
class Row:
    """One line of the tree: an object or a condition, with its readiness."""

    name: str
    ready: str = ""
    reason: str = ""
    since: datetime.datetime | None = None
    message: str = ""
    children: list[Row] = field(default_factory=list)


def from_condition(c: Mapping[str, Any]) -> Row:
    return Row(
        name=str(c.get("type", "")),
        ready=str(c.get("status", "")),
        reason=str(c.get("reason", "")),
        since=parse_time(c.get("lastTransitionTime")),
        message=str(c.get("message", "")),
    )


def from_object(obj: Mapping[str, Any], label: str) -> Row:
    """An object by its Ready condition; its other conditions below it when it is not Ready."""
    ready = condition(obj, "Ready")
    row = from_condition(ready) if ready else Row(name="", ready="Unknown", reason="NoStatus")
    row.name = label
    if row.ready != "True":
        others = [c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") != "Ready"]
        row.children = [from_condition(c) for c in others if c.get("status") != "True"]
    return row


def group(name: str, objects: Sequence[Object], label: Callable[[Object], str]) -> Row:
    """Several objects of one kind as one row: all Ready collapse to ``n/n``, the others are listed."""
    rows = [from_object(o, label(o)) for o in sorted(objects, key=lambda o: o["metadata"]["name"])]
    ready = sum(1 for r in rows if r.ready == "True")
    summary = Row(name=name, ready="True" if ready == len(rows) else "False", message=f"{ready}/{len(rows)} Ready")
    summary.children = [r for r in rows if r.ready != "True"]
    return summary


def unreadable(cluster_id: str, kinds: Sequence[str]) -> Row:
    """One row for the children the caller may not read (a member: they are the operators' own objects, outside the
    organization's namespace); the cluster's conditions above already report on them."""
    return Row(
        name=f"Children/{cluster_id}",
        ready="?",
        message=f"not readable with your permissions: {', '.join(kinds)} (the cluster's conditions report on them)",
    )


def pools(obj: Object) -> list[Row]:
    """A row per worker pool from the status (KVM: ready/desired/upToDate and each node; AWS: inService/desired),
    pools of the spec the status does not report yet with what the spec asks."""
    status, spec = obj.get("status") or {}, obj.get("spec") or {}
    is_kvm = obj.get("kind") == "KVMConfig"
    reported = {p.get("name"): p for p in status.get("workerPools") or []}
    rows = []
    for pool in spec.get("workerPools") or []:
        name = pool.get("name", "")
        seen = reported.pop(name, None)
        asked = int(pool.get("replicas" if is_kvm else "desired", 1))
        if seen is None:
            rows.append(Row(name=f"Pool/{name}", ready="Unknown", message=f"0/{asked} ready: not reported yet"))
            continue
        if is_kvm:
            ready, desired = int(seen.get("ready", 0)), int(seen.get("desired", asked))
            message = f"{ready}/{desired} ready, {seen.get('upToDate', 0)} up to date"
            if seen.get("version"):
                message += f", v{seen['version']}"
        else:
            ready, desired = int(seen.get("inService", 0)), int(seen.get("desired", asked))
            message = f"{ready}/{desired} in service"
        row = Row(name=f"Pool/{name}", ready="True" if ready >= desired else "False", message=message)
        for node in seen.get("nodes") or []:
            details = [
                "v" + str(node["version"]).removeprefix("v") if node.get("version") else "",
                node.get("accelerator") or "",
            ]
            details.append("" if node.get("upToDate") else "to roll")
            row.children.append(
                Row(
                    name=f"Node/{node.get('name', '')}",
                    ready="True" if node.get("ready") else "False",
                    message=" ".join(d for d in details if d),
                )
            )
        rows.append(row)
    rows += [Row(name=f"Pool/{n}", ready="Unknown", message="in the status only: being removed") for n in reported]
    return rows


def addons(obj: Object) -> Row | None:
    """KVM guests' add-ons (kube-proxy, CoreDNS): enabled or not, and how AddonsReady found them."""
    if obj.get("kind") != "KVMConfig":
        return None
    wanted = (obj.get("spec") or {}).get("addons") or {}
    names = ("kubeProxy", "coreDNS")
    enabled = [n for n in names if (wanted.get(n) or {}).get("enabled", True)]
    seen = condition(obj, "AddonsReady")
    row = from_condition(seen) if seen else Row(name="", ready="Unknown", message="not reported yet")
    row.name = "Addons"
    listed = ", ".join(enabled) or "none"
    row.message = f"{listed}: {row.message}" if row.message else listed
    return row


def build(
    obj: Object,
    *,
    ca: Sequence[Object] | None,
    certificates: Sequence[Object] | None,
    network: Object | bool | None,
    ingress: Object | bool | None,
) -> Row:
    """The tree of one cluster. ``None`` for a list, or ``False`` for an object: the caller may not read it; an object
    that is ``None`` does not exist (yet)."""
    meta = obj["metadata"]
    cluster_id = (obj.get("spec") or {}).get("clusterID", meta["name"])
    root = from_object(obj, f"{obj.get('kind', 'Cluster')}/{meta.get('namespace', '')}/{meta['name']}")
    root.children = []
    status_conditions = [c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") != "Ready"]
    if status_conditions:
        root.children.append(Row(name="Conditions", children=[from_condition(c) for c in status_conditions]))
    if refused := (obj.get("status") or {}).get("versionRefused"):
        root.children.append(Row(name="Version", ready="False", reason="VersionRefused", message=str(refused)))

    def named(o: Object) -> str:
        return f"{o.get('kind', '')}/{o['metadata'].get('namespace', cluster_id)}/{o['metadata']['name']}"

    hidden = [kind for kind, found in (("CAConfig", ca), ("CertConfigs", certificates)) if found is None]
    hidden += [kind for kind, found in (("FlannelConfig", network), ("IngressConfig", ingress)) if found is False]
    for item in ca or []:
        root.children.append(from_object(item, named(item)))
    if certificates:
        root.children.append(group(f"CertConfigs/{cluster_id}", certificates, named))
    for kind, found in (("FlannelConfig", network), ("IngressConfig", ingress)):
        if isinstance(found, dict):
            root.children.append(from_object(found, f"{kind}/{cluster_id}"))
    if hidden:
        root.children.append(unreadable(cluster_id, hidden))
    root.children += pools(obj)
    if (extra := addons(obj)) is not None:
        root.children.append(extra)
    return root


def flatten(root: Row) -> list[tuple[str, Row]]:
    """The rows in order, each with the tree drawn before its name (``├─``, ``└─``, ``│``): the text tree and the
    console's table draw it alike."""
    lines: list[tuple[str, Row]] = []

    def walk(row: Row, prefix: str, last: bool, top: bool) -> None:
        lines.append((prefix + ("" if top else ("└─" if last else "├─")), row))
        below = prefix + ("" if top else ("  " if last else "│ "))
        for i, child in enumerate(row.children):
            walk(child, below, i == len(row.children) - 1, False)

    walk(root, "", True, True)
    return lines


def render(root: Row, now: datetime.datetime) -> str:
    """NAME (the tree), READY, REASON, SINCE, MESSAGE columns."""
    rows = [["NAME", "READY", "REASON", "SINCE", "MESSAGE"]]
    for drawn, row in flatten(root):
        message = row.message if len(row.message) <= MESSAGE_WIDTH else row.message[: MESSAGE_WIDTH - 1] + "…"
        since = age(row.since, now) if row.since else ""
        rows.append([drawn + row.name, row.ready, row.reason, since, " ".join(message.split())])
    return columns(rows)
