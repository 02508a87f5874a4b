"""What a worker pool does next, as pure functions of what it looks like — as Cluster API keeps its MachineSet's
choice of a machine to delete (``machineset_delete_policy.go``): how far to scale and which VM leaves first,
whether a VM's Node must be drained before it goes, which outdated VM a roll replaces and when, which unhealthy VM
a repair replaces and when not at all, and which guest Nodes are left over.

:mod:`kvm_operator.resources.worker_pools` reads the pool's pods and Nodes into :class:`VM` rows, asks these
functions, and acts: drains, deletes, reports why it waits. ``tests/kvm/test_pool_policy.py`` holds them as tables:
a situation per row, and the choice it gets.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kvm_operator import key
from operatorkit import timestamps

if TYPE_CHECKING:
    import datetime
    from collections.abc import Collection, Iterable, Sequence

TEMPLATE = "template"
"""A replacement's reason: the pod template changed (version, shape, labels, taints)."""
CERTIFICATE = "certificate"
"""A replacement's reason: the node certificate was renewed after the VM booted."""


@dataclass(frozen=True)
class Node:
    """A VM's guest Node, as far as the policies look at it."""

    ready: bool = True
    since: datetime.datetime | None = None
    """When its Ready condition last changed."""
    reason: str = "unknown"
    """The Ready condition's reason."""
    cordoned: bool = False


@dataclass(frozen=True)
class Certificate:
    """A node certificate as issued now."""

    serial: str
    not_before: datetime.datetime


@dataclass(frozen=True)
class VM:
    """One VM pod of a pool (its name is its Node's) and what is known of it."""

    name: str
    created: datetime.datetime | None = None
    started: datetime.datetime | None = None
    """The pod's start: None while it is not placed on a mother node."""
    deleting: bool = False
    revision: str | None = None
    """The pod's StatefulSet revision (``controller-revision-hash``)."""
    node: Node | None = None
    """Its guest Node; None while none has registered."""
    certificate: Certificate | None = None
    """Its node certificate as issued now."""
    boot_serial: str | None = None
    """The serial of the certificate its boot configuration holds now."""


@dataclass(frozen=True)
class Choice:
    """A VM to replace now and why; or why nothing is replaced now (said in the pool's condition); or neither."""

    victim: str | None = None
    why: str = ""
    waiting: str | None = None


@dataclass(frozen=True)
class Scale:
    """The StatefulSet's replicas after this pass; scaling down, the Node to drain before they are lowered."""

    replicas: int
    drain: str | None = None
    waiting: str | None = None


class Drain(enum.Enum):
    """What goes before a VM is removed."""

    NOTHING = "nothing"
    """No VM, or one whose Node never registered: nothing runs there, it goes at once."""
    WAIT = "wait"
    """The guest's API cannot be asked: no VM goes undrained while its pods may be running."""
    DRAIN = "drain"


def ready(node: Node | None) -> bool:
    return node is not None and node.ready


def cordoned(node: Node | None) -> bool:
    return node is not None and node.cordoned


# -- scale -------------------------------------------------------------------------------------------------------
def scale(pool: str, have: int, want: int, configured: Collection[str]) -> Scale:
    """Up at once, in order, as far as boot configurations exist (``configured``: the nodes that have one; a VM
    never starts without its certificate); down one VM at a time, the highest-numbered (the one a StatefulSet
    removes), drained first."""
    if have > want:
        return Scale(have - 1, drain=key.node_name(pool, have - 1))
    if have == want:
        return Scale(have)
    bootable = 0
    while bootable < want and key.node_name(pool, bootable) in configured:
        bootable += 1
    target = max(have, bootable)
    if target < want:
        return Scale(target, waiting=f"waiting for the certificate of {key.node_name(pool, target)} to boot it")
    return Scale(target)


def drain_step(*, has_vm: bool, has_node: bool, guest_reachable: bool) -> Drain:
    """Before a VM goes (scaled away, or replaced for an update): drain its Node, unless there is nothing to drain."""
    if not has_vm:
        return Drain.NOTHING
    if not guest_reachable:
        return Drain.WAIT
    return Drain.DRAIN if has_node else Drain.NOTHING


# -- roll --------------------------------------------------------------------------------------------------------
def outdated(vms: Iterable[VM], have: int, revision: str | None) -> dict[str, str]:
    """VMs to replace, by name: the reason — an older pod template (once the StatefulSet has seen the latest one:
    ``revision``), or a node certificate renewed after the VM booted, once its boot configuration holds the new one.
    VMs going anyway (deleted, or above the replicas) are not."""
    found: dict[str, str] = {}
    for vm in vms:
        if vm.deleting or key.ordinal(vm.name) >= have:
            continue
        if revision and vm.revision != revision:
            found[vm.name] = TEMPLATE
            continue
        cert = vm.certificate
        if cert and vm.boot_serial == cert.serial and vm.created is not None and vm.created < cert.not_before:
            found[vm.name] = CERTIFICATE
    return found


def replacement(
    vms: Sequence[VM], *, have: int, want: int, revision: str | None, busy: bool, control_plane_available: bool
) -> Choice:
    """One outdated VM at a time, only while the pool is at its size, no other step is under way, the control plane
    is Available and every other VM's Node is Ready. The one already being drained first (a restarted operator
    picks up where it was), else the highest-numbered."""
    if busy or have != want:
        return Choice()
    found = outdated(vms, have, revision)
    if not found:
        return Choice()
    if not control_plane_available:
        return Choice(waiting=f"{len(found)} VM(s) to replace once the control plane is Available")
    nodes = {vm.name: vm.node for vm in vms}
    victim = max(found, key=lambda name: (cordoned(nodes[name]), key.ordinal(name)))
    others = [vm.name for vm in vms if vm.name != victim and not ready(vm.node)]
    if others:
        return Choice(waiting=f"replacing {victim} waits for {', '.join(sorted(others)[:3])} Ready")
    return Choice(victim, found[victim])


# -- repair ------------------------------------------------------------------------------------------------------
def unhealthy(vms: Iterable[VM], now: datetime.datetime, after: datetime.timedelta) -> dict[str, str]:
    """VMs whose Node is not Ready, or has not registered, for longer than ``after``: why, by name. A VM not placed
    yet is not (unschedulable: a new one would not fare better), nor one going anyway."""
    found: dict[str, str] = {}
    for vm in vms:
        if vm.deleting or vm.started is None:
            continue
        node = vm.node
        if node is None:
            if now - vm.started > after:
                found[vm.name] = f"no Node registered {after.total_seconds():.0f} s after its VM started"
        elif not node.ready and node.since is not None and now - node.since > after:
            found[vm.name] = f"Node not Ready since {timestamps.stamp(node.since)}: {node.reason}"
    return found


def repair(
    vms: Sequence[VM],
    *,
    want: int,
    now: datetime.datetime,
    after: datetime.timedelta,
    max_unhealthy_percent: int,
    busy: bool,
) -> Choice:
    """One unhealthy VM at a time, the lowest-numbered, replaced without draining (its pods are unreachable anyway);
    none while another step is under way, and none at all while more of the pool than the allowed share is
    unhealthy (but at least one VM may be, so a pool of one or two heals too): then the cause is not the VMs."""
    found = unhealthy(vms, now, after)
    if not found:
        return Choice()
    size = max(want, len(vms), 1)
    if len(found) > max(1, size * max_unhealthy_percent // 100):
        return Choice(
            waiting=f"{len(found)} of {len(vms)} VMs unhealthy, more than {max_unhealthy_percent}%: not repairing "
            f"(look at the network and the control plane); {next(iter(found.values()))}"
        )
    if busy or any(vm.deleting for vm in vms):
        return Choice(waiting=f"repair of {', '.join(sorted(found))} waits for the step under way")
    victim = min(found, key=key.ordinal)
    return Choice(victim, found[victim])


# -- clean up ----------------------------------------------------------------------------------------------------
def left_over(pool: str, nodes: Iterable[str], vms: Collection[str], have: int) -> list[str]:
    """The pool's guest Nodes whose VM is gone for good (scaled away, or the pool removed): no pod, and an ordinal
    the StatefulSet no longer keeps (below it, the pod is coming back)."""
    prefix = f"{key.pool_workload(pool)}-"
    return [
        name
        for name in nodes
        if name not in vms
        and name.startswith(prefix)
        and name.rsplit("-", 1)[1].isdigit()
        and key.ordinal(name) >= have
    ]
