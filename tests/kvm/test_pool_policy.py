"""The worker pools' choices as tables (pure logic, no server), read like Cluster API's delete-policy tests: each
row a pool's situation — its VMs, their Nodes, certificates and times — and the choice it gets. The server
scenario (tests/kvm/test_worker_pools.py) proves the resource acts on them."""

from __future__ import annotations

import datetime

import pytest

from kvm_operator.pool_policy import (
    CERTIFICATE,
    TEMPLATE,
    VM,
    Certificate,
    Choice,
    Drain,
    Node,
    Scale,
    drain_step,
    left_over,
    outdated,
    repair,
    replacement,
    scale,
)
from kvm_operator.resources._pool import guest_node, vm

NOW = datetime.datetime(2026, 12, 7, 12, 0, 0, tzinfo=datetime.UTC)
REPAIR_AFTER = datetime.timedelta(minutes=5)


def ago(minutes: float) -> datetime.datetime:
    return NOW - datetime.timedelta(minutes=minutes)


READY = Node()
CORDONED = Node(cordoned=True)  # a drain under way
NOT_READY_2M = Node(ready=False, since=ago(2), reason="KubeletNotReady")
NOT_READY_10M = Node(ready=False, since=ago(10), reason="KubeletNotReady")
NO_CONDITION = Node(ready=False, since=None)
RENEWED = Certificate("s2", ago(10))  # issued 10 minutes ago


def w(n: int, **fields: object) -> VM:
    """VM ``worker-p-<n>``: booted 30 minutes ago from the current template, its Node Ready — unless told."""
    values: dict[str, object] = {"created": ago(30), "started": ago(30), "revision": "r2", "node": READY} | fields
    return VM(f"worker-p-{n}", **values)


# -- scale ---------------------------------------------------------------------------------------------------------
def configured(*ordinals: int) -> set[str]:
    return {f"worker-p-{n}" for n in ordinals}


@pytest.mark.parametrize(
    ("have", "want", "configs", "expected"),
    [
        pytest.param(2, 2, configured(0, 1), Scale(2), id="at its size"),
        pytest.param(0, 3, configured(0, 1, 2), Scale(3), id="up at once"),
        pytest.param(
            1, 3, configured(0, 1),
            Scale(2, waiting="waiting for the certificate of worker-p-2 to boot it"),
            id="up as far as certificates are issued",
        ),
        pytest.param(
            0, 3, configured(0, 2),
            Scale(1, waiting="waiting for the certificate of worker-p-1 to boot it"),
            id="up in order: a gap stops it",
        ),
        pytest.param(
            2, 3, configured(),
            Scale(2, waiting="waiting for the certificate of worker-p-2 to boot it"),
            id="never below what runs",
        ),
        pytest.param(3, 1, configured(0, 1, 2), Scale(2, drain="worker-p-2"), id="down one at a time, highest first"),
        pytest.param(1, 0, configured(0), Scale(0, drain="worker-p-0"), id="a removed pool drains its last VM"),
    ],
)  # fmt: skip
def test_scale(have: int, want: int, configs: set[str], expected: Scale) -> None:
    assert scale("p", have, want, configs) == expected


@pytest.mark.parametrize(
    ("has_vm", "has_node", "guest_reachable", "expected"),
    [
        pytest.param(True, True, True, Drain.DRAIN, id="a VM with a Node: drained first"),
        pytest.param(True, True, False, Drain.WAIT, id="the guest cannot be asked: wait"),
        pytest.param(True, False, False, Drain.WAIT, id="nor to learn whether it registered"),
        pytest.param(True, False, True, Drain.NOTHING, id="never joined: nothing runs there"),
        pytest.param(False, True, True, Drain.NOTHING, id="no VM: nothing to drain"),
        pytest.param(False, False, False, Drain.NOTHING, id="no VM, no guest: still nothing"),
    ],
)
def test_drain_before_a_vm_goes(has_vm: bool, has_node: bool, guest_reachable: bool, expected: Drain) -> None:
    assert drain_step(has_vm=has_vm, has_node=has_node, guest_reachable=guest_reachable) is expected


# -- roll ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("vms", "have", "revision", "expected"),
    [
        pytest.param([w(0), w(1)], 2, "r2", {}, id="up to date"),
        pytest.param([w(0), w(1, revision="r1")], 2, "r2", {"worker-p-1": TEMPLATE}, id="an older template"),
        pytest.param([w(0, revision="r1")], 1, None, {}, id="the StatefulSet has not seen its template yet"),
        pytest.param(
            [w(0, certificate=RENEWED, boot_serial="s2")], 1, "r2", {"worker-p-0": CERTIFICATE},
            id="certificate renewed after it booted",
        ),
        pytest.param(
            [w(0, certificate=RENEWED, boot_serial="s1")], 1, "r2", {},
            id="renewed, but its boot configuration still holds the old one",
        ),
        pytest.param(
            [w(0, created=ago(5), certificate=RENEWED, boot_serial="s2")], 1, "r2", {},
            id="booted with the renewed certificate",
        ),
        pytest.param(
            [w(0, revision="r1", certificate=RENEWED, boot_serial="s2")], 1, "r2", {"worker-p-0": TEMPLATE},
            id="both: the template is said",
        ),
        pytest.param([w(0, revision="r1", deleting=True)], 1, "r2", {}, id="going anyway"),
        pytest.param([w(0), w(1, revision="r1")], 1, "r2", {}, id="above the replicas: scaled away, not replaced"),
    ],
)  # fmt: skip
def test_outdated(vms: list[VM], have: int, revision: str | None, expected: dict[str, str]) -> None:
    assert outdated(vms, have, revision) == expected


OLD = "r1"


@pytest.mark.parametrize(
    ("situation", "vms", "expected"),
    [
        ("all up to date", [w(0), w(1), w(2)], Choice()),
        ("one outdated", [w(0), w(1, revision=OLD), w(2)], Choice("worker-p-1", TEMPLATE)),
        ("the highest first", [w(0, revision=OLD), w(1, revision=OLD), w(2)], Choice("worker-p-1", TEMPLATE)),
        (
            "the one being drained first (a restart picks up where it was)",
            [w(0, revision=OLD, node=CORDONED), w(1, revision=OLD), w(2, revision=OLD)],
            Choice("worker-p-0", TEMPLATE),
        ),
        (
            "another Node not Ready: wait",
            [w(0, node=NOT_READY_2M), w(1, revision=OLD), w(2)],
            Choice(waiting="replacing worker-p-1 waits for worker-p-0 Ready"),
        ),
        (
            "another VM not registered: wait",
            [w(0), w(1, revision=OLD), w(2, node=None)],
            Choice(waiting="replacing worker-p-1 waits for worker-p-2 Ready"),
        ),
        (
            "the victim's own Node may be anything",
            [w(0), w(1, revision=OLD, node=NOT_READY_10M)],
            Choice("worker-p-1", TEMPLATE),
        ),
        (
            "a renewed certificate",
            [w(0), w(1, certificate=RENEWED, boot_serial="s2")],
            Choice("worker-p-1", CERTIFICATE),
        ),
    ],
)
def test_which_vm_a_roll_replaces(situation: str, vms: list[VM], expected: Choice) -> None:
    choice = replacement(vms, have=len(vms), want=len(vms), revision="r2", busy=False, control_plane_available=True)
    assert choice == expected, situation


@pytest.mark.parametrize(
    ("situation", "have", "want", "busy", "available", "expected"),
    [
        ("the control plane not Available", 2, 2, False, False,
         Choice(waiting="2 VM(s) to replace once the control plane is Available")),
        ("scaling up first", 2, 3, False, True, Choice()),
        ("scaling down first", 2, 1, False, True, Choice()),
        ("another step under way", 2, 2, True, True, Choice()),
        ("free to go", 2, 2, False, True, Choice("worker-p-1", TEMPLATE)),
    ],
)  # fmt: skip
def test_when_a_roll_waits(situation: str, have: int, want: int, busy: bool, available: bool, expected: Choice) -> None:
    vms = [w(0, revision=OLD), w(1, revision=OLD)]
    choice = replacement(vms, have=have, want=want, revision="r2", busy=busy, control_plane_available=available)
    assert choice == expected, situation


# -- repair --------------------------------------------------------------------------------------------------------
NOT_READY_WHY = "Node not Ready since 2026-12-07T11:50:00Z: KubeletNotReady"
NOT_REGISTERED_WHY = "no Node registered 300 s after its VM started"


@pytest.mark.parametrize(
    ("situation", "vms", "want", "percent", "expected"),
    [
        ("all Ready", [w(0), w(1)], 2, 50, Choice()),
        ("NotReady too long", [w(0), w(1, node=NOT_READY_10M)], 2, 50, Choice("worker-p-1", NOT_READY_WHY)),
        ("NotReady for a moment", [w(0), w(1, node=NOT_READY_2M)], 2, 50, Choice()),
        ("Ready never reported", [w(0), w(1, node=NO_CONDITION)], 2, 50, Choice()),
        ("never registered", [w(0), w(1, node=None)], 2, 50, Choice("worker-p-1", NOT_REGISTERED_WHY)),
        ("just started, not registered yet", [w(0), w(1, node=None, started=ago(1))], 2, 50, Choice()),
        ("not placed (unschedulable): a new VM fares no better", [w(0), w(1, node=None, started=None)], 2, 50,
         Choice()),
        ("a pool of one heals", [w(0, node=NOT_READY_10M)], 1, 50, Choice("worker-p-0", NOT_READY_WHY)),
        ("the lowest-numbered first", [w(0), w(1, node=NOT_READY_10M), w(2, node=None), w(3)], 4, 50,
         Choice("worker-p-1", NOT_READY_WHY)),
        ("more than the share: the cause is not the VMs",
         [w(0, node=NOT_READY_10M), w(1, node=NOT_READY_10M), w(2)], 3, 50,
         Choice(waiting="2 of 3 VMs unhealthy, more than 50%: not repairing (look at the network and the control "
                        f"plane); {NOT_READY_WHY}")),
        ("the share counts the spec's size", [w(0, node=NOT_READY_10M), w(1, node=NOT_READY_10M)], 4, 50,
         Choice("worker-p-0", NOT_READY_WHY)),
        ("another VM going: wait", [w(0, deleting=True), w(1, node=NOT_READY_10M)], 2, 50,
         Choice(waiting="repair of worker-p-1 waits for the step under way")),
        ("a going VM is not repaired", [w(0), w(1, node=NOT_READY_10M, deleting=True)], 2, 50, Choice()),
    ],
)  # fmt: skip
def test_which_vm_a_repair_replaces(situation: str, vms: list[VM], want: int, percent: int, expected: Choice) -> None:
    choice = repair(vms, want=want, now=NOW, after=REPAIR_AFTER, max_unhealthy_percent=percent, busy=False)
    assert choice == expected, situation


def test_a_repair_waits_for_the_step_under_way() -> None:
    vms = [w(0), w(1, node=NOT_READY_10M)]
    choice = repair(vms, want=2, now=NOW, after=REPAIR_AFTER, max_unhealthy_percent=50, busy=True)
    assert choice == Choice(waiting="repair of worker-p-1 waits for the step under way")


# -- clean up ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("situation", "nodes", "vms", "have", "expected"),
    [
        ("every Node has its VM", ["worker-p-0", "worker-p-1"], {"worker-p-0", "worker-p-1"}, 2, []),
        ("scaled away", ["worker-p-0", "worker-p-1"], {"worker-p-0"}, 1, ["worker-p-1"]),
        ("its VM is coming back", ["worker-p-0", "worker-p-1"], {"worker-p-0"}, 2, []),
        ("the pool removed", ["worker-p-0"], set(), 0, ["worker-p-0"]),
        ("not a name of this pool", ["worker-q-0", "worker-p-x", "other"], set(), 0, []),
    ],
)
def test_left_over_nodes(situation: str, nodes: list[str], vms: set[str], have: int, expected: list[str]) -> None:
    assert left_over("p", nodes, vms, have) == expected, situation


# -- reading the objects -------------------------------------------------------------------------------------------
def test_objects_read_into_rows() -> None:
    pod = {
        "metadata": {"name": "worker-p-0", "creationTimestamp": "2026-12-07T11:30:00Z",
                     "labels": {"controller-revision-hash": "r2"}},
        "status": {"startTime": "2026-12-07T11:30:05Z"},
    }  # fmt: skip
    node = {
        "spec": {"unschedulable": True},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady",
                                   "lastTransitionTime": "2026-12-07T11:50:00Z"}]},
    }  # fmt: skip
    config = {"status": {"serial": "s2", "notBefore": "2026-12-07T11:50:00Z"}}
    assert vm(pod, node, config, "s2") == VM(
        "worker-p-0",
        created=ago(30),
        started=ago(30) + datetime.timedelta(seconds=5),
        revision="r2",
        node=Node(ready=False, since=ago(10), reason="KubeletNotReady", cordoned=True),
        certificate=RENEWED,
        boot_serial="s2",
    )
    assert vm(pod, None, {"status": {"serial": "s2"}}, None).certificate is None, "not issued yet"


@pytest.mark.parametrize("written", ["not a time", "", 12345, None])
def test_a_guests_odd_time_reads_as_none(written: object) -> None:
    """A Node's status is the guest's to write: what does not read as a time is no time, never a failed pass."""
    node = {"status": {"conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": written}]}}
    assert guest_node(node) == Node(ready=False, since=None)
