"""The reconcile model against the real control plane: flows, finalizers, backoff, requeue, pause, ownership."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest
from prometheus_client import REGISTRY

from kubeception_testenv import wait_for
from operatorkit import (
    PAUSED_ANNOTATION,
    Condition,
    Context,
    Controller,
    KubeClient,
    ReconcileError,
    RequeueAfter,
    Resource,
    get_condition,
    is_true,
    timestamps,
)
from operatorkit.example import GREETING
from operatorkit.example.controller import GreetingSpec, greeting_controller
from operatorkit.kinds import CONFIG_MAP, EVENT
from operatorkit.testing import condition_of, metric_sum, reason_of
from tests.operatorkit.conftest import greeting

pytestmark = pytest.mark.usefixtures("greeting_crd")


def reconciles(controller: str, result: str = "success") -> float:
    return metric_sum("controller_runtime_reconcile_total", controller=controller, result=result)


def requests(method: str) -> float:
    return metric_sum("rest_client_requests_total", method=method)


def configmap(kube: KubeClient, namespace: str, name: str) -> dict[str, Any] | None:
    return kube.get_or_none(CONFIG_MAP, f"{name}-greeting", namespace)


def test_create_update_delete(kube, namespace, run_operator):
    run_operator([greeting_controller("flow")])
    kube.create(GREETING, greeting("g", namespace, "hello"))

    def ready_with(message: str, generation: int) -> bool:
        obj = kube.get(GREETING, "g", namespace)
        cm = configmap(kube, namespace, "g")
        return (
            cm is not None
            and cm["data"]["message"] == message
            and is_true(obj.get("status"), "Ready")
            and obj["status"]["observedGeneration"] == generation
        )

    wait_for(lambda: ready_with("hello", 1), timeout=20, message="greeting created")
    obj = kube.get(GREETING, "g", namespace)
    assert "finalizers" not in obj["metadata"], "owned dependents are garbage-collected: no finalizer needed"
    cm = configmap(kube, namespace, "g")
    assert cm is not None
    assert cm["metadata"]["ownerReferences"][0]["uid"] == obj["metadata"]["uid"]
    assert "test-operator" in {entry["manager"] for entry in cm["metadata"]["managedFields"]}

    kube.patch(GREETING, "g", {"spec": {"message": "bonjour"}}, namespace)
    wait_for(lambda: ready_with("bonjour", 2), timeout=20, message="greeting updated")

    kube.delete(GREETING, "g", namespace)
    wait_for(lambda: kube.get_or_none(GREETING, "g", namespace) is None, timeout=20, message="greeting deleted")
    # The garbage collector deletes the owned ConfigMap; it learns about a new CRD on its 30 s discovery resync.
    wait_for(lambda: configmap(kube, namespace, "g") is None, timeout=90, message="configmap garbage-collected")


def test_invalid_spec_is_a_condition_not_a_retry_storm(kube, namespace, run_operator):
    run_operator([greeting_controller("invalid")])
    kube.create(GREETING, {**greeting("bad", namespace), "spec": {"message": "", "colour": "red"}})

    def invalid_condition() -> dict[str, Any] | None:
        return condition_of(kube, GREETING, "bad", namespace)

    condition = wait_for(
        lambda: (c := invalid_condition()) and c["reason"] == "InvalidSpec" and c,
        timeout=20,
        message="InvalidSpec condition",
    )
    assert isinstance(condition, dict)
    assert condition["status"] == "False"
    assert "spec.message" in condition["message"]
    assert "spec.colour" in condition["message"]
    errors = reconciles("invalid", "error")
    # A terminal error is not retried: the object must change before it is reconciled again.
    kube.patch(GREETING, "bad", {"metadata": {"labels": {"touch": "1"}}}, namespace)
    wait_for(lambda: reconciles("invalid", "error") > errors, timeout=10, message="reconcile after the change")
    assert reconciles("invalid", "error") == errors + 1
    assert configmap(kube, namespace, "bad") is None
    events = kube.list(EVENT, namespace, field_selector="involvedObject.name=bad")["items"]
    assert [e["reason"] for e in events] == ["InvalidSpec"]
    assert events[0]["type"] == "Warning"

    kube.patch(GREETING, "bad", {"spec": {"message": "fixed", "colour": None}}, namespace)
    wait_for(
        lambda: is_true(kube.get(GREETING, "bad", namespace).get("status"), "Ready"),
        timeout=20,
        message="fixed spec reconciled",
    )


class Gate(Resource[GreetingSpec]):
    """Refuses to finish deletion until opened, like a resource waiting for VMs to be gone."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.deletes = 0

    def ensure_created(self, ctx: Context[GreetingSpec]) -> None:
        return None

    def ensure_deleted(self, ctx: Context[GreetingSpec]) -> None:
        self.deletes += 1
        if not self.open.is_set():
            raise ReconcileError("dependents still running", reason="WaitingForDependents")


def test_finalizer_blocks_deletion_until_cleanup_succeeds(kube, namespace, run_operator):
    gate = Gate()
    run_operator([greeting_controller("gated", extra=[gate], backoff_base=0.05, backoff_cap=0.5)])
    kube.create(GREETING, greeting("g", namespace))
    wait_for(lambda: is_true(kube.get(GREETING, "g", namespace).get("status"), "Ready"), timeout=20, message="ready")
    kube.delete(GREETING, "g", namespace)
    wait_for(lambda: gate.deletes >= 3, timeout=20, message="deletion retried")
    obj = kube.get(GREETING, "g", namespace)
    assert obj["metadata"]["deletionTimestamp"]
    condition = get_condition(obj.get("status"), "Ready")
    assert condition is not None
    assert condition["reason"] == "WaitingForDependents"
    assert gate.deletes >= 3
    gate.open.set()
    wait_for(lambda: kube.get_or_none(GREETING, "g", namespace) is None, timeout=20, message="deletion finished")


class Flaky(Resource[GreetingSpec]):
    """Fails the first ``failures`` attempts, recording when each attempt ran."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts: list[float] = []

    def ensure_created(self, ctx: Context[GreetingSpec]) -> None:
        self.attempts.append(time.monotonic())
        if len(self.attempts) <= self.failures:
            raise ReconcileError(f"attempt {len(self.attempts)} failed", reason="Flaky")

    def ensure_deleted(self, ctx: Context[GreetingSpec]) -> None:
        return None


def test_backoff_grows_on_failure_and_resets_on_success(kube, namespace, run_operator):
    flaky = Flaky(failures=5)
    # Only the flaky resource: an owned object's create event would (rightly) trigger an immediate retry.
    controller = Controller(
        name="flaky", kind=GREETING, resources=[flaky], spec_model=GreetingSpec, backoff_base=0.2, backoff_cap=10
    )
    runner = run_operator([controller]).runner("flaky")
    kube.create(GREETING, greeting("g", namespace))
    wait_for(
        lambda: is_true(kube.get(GREETING, "g", namespace).get("status"), "Ready"),
        timeout=30,
        message="success after failures",
    )
    gaps = [b - a for a, b in zip(flaky.attempts, flaky.attempts[1:6], strict=False)]
    # 0.2, 0.4, 0.8, 1.6, 3.2 s (+ up to 10 % jitter and the reconcile's own time, which a loaded CI machine
    # stretches by a few hundred ms — so a base well above that): each gap at least doubles the base's step.
    for n, gap in enumerate(gaps):
        assert gap >= 0.2 * 2**n * 0.95, gaps
    assert gaps[-1] > 4 * gaps[0], gaps
    assert runner.queue.backoff.failures(f"{namespace}/g") == 0, "success resets the backoff"
    assert reconciles("flaky", "error") == 5


class Requeuer(Resource[GreetingSpec]):
    def __init__(self) -> None:
        self.calls = 0

    def ensure_created(self, ctx: Context[GreetingSpec]) -> None:
        self.calls += 1
        ctx.requeue_after(0.2)

    def ensure_deleted(self, ctx: Context[GreetingSpec]) -> None:
        return None


def test_requeue_after(kube, namespace, run_operator):
    requeuer = Requeuer()
    run_operator([greeting_controller("requeue", extra=[requeuer])])
    kube.create(GREETING, greeting("g", namespace))
    wait_for(lambda: requeuer.calls >= 5, timeout=10, message="periodic requeues")
    assert reconciles("requeue", "requeue_after") >= 4


def test_pause_annotation_stops_reconciling(kube, namespace, run_operator):
    runner = run_operator([greeting_controller("pause")]).runner("pause")
    kube.create(GREETING, greeting("g", namespace, "one"))
    wait_for(
        lambda: (cm := configmap(kube, namespace, "g")) and cm["data"]["message"] == "one",
        timeout=20,
        message="configmap",
    )
    kube.patch(GREETING, "g", {"metadata": {"annotations": {PAUSED_ANNOTATION: "true"}}}, namespace)
    kube.patch(GREETING, "g", {"spec": {"message": "two"}}, namespace)

    def seen_and_settled() -> bool:
        cached = runner.store.get(f"{namespace}/g") if runner.store is not None else None
        return cached is not None and cached["metadata"]["generation"] == 2 and runner.settled()

    wait_for(seen_and_settled, timeout=10, message="the spec change to be seen and handled")
    cm = configmap(kube, namespace, "g")
    assert cm is not None
    assert cm["data"]["message"] == "one", "a paused object is left alone"
    kube.patch(GREETING, "g", {"metadata": {"annotations": {PAUSED_ANNOTATION: None}}}, namespace)
    wait_for(
        lambda: (cm := configmap(kube, namespace, "g")) and cm["data"]["message"] == "two",
        timeout=20,
        message="reconciled after unpausing",
    )


def test_change_to_owned_object_reconciles_owner(kube, namespace, run_operator):
    run_operator([greeting_controller("owned")])
    kube.create(GREETING, greeting("g", namespace, "mine"))
    wait_for(lambda: configmap(kube, namespace, "g") is not None, timeout=20, message="configmap")
    kube.patch(CONFIG_MAP, "g-greeting", {"data": {"message": "tampered"}}, namespace)
    wait_for(
        lambda: (cm := configmap(kube, namespace, "g")) and cm["data"]["message"] == "mine",
        timeout=20,
        message="tampering undone",
    )
    kube.delete(CONFIG_MAP, "g-greeting", namespace)
    wait_for(
        lambda: (cm := configmap(kube, namespace, "g")) and cm["data"]["message"] == "mine",
        timeout=20,
        message="deleted configmap recreated",
    )


def test_resync_of_unchanged_objects_writes_nothing(kube, namespace, run_operator):
    runner = run_operator([greeting_controller("resync")]).runner("resync")
    for index in range(10):
        kube.create(GREETING, greeting(f"g{index}", namespace))
    wait_for(
        lambda: all(is_true(g.get("status"), "Ready") for g in kube.list(GREETING, namespace)["items"]),
        timeout=30,
        message="all ready",
    )
    assert runner.queue.wait_idle(10)
    versions = {
        g["metadata"]["name"]: g["metadata"]["resourceVersion"] for g in kube.list(GREETING, namespace)["items"]
    }
    writes = {method: requests(method) for method in ("POST", "PUT", "PATCH", "DELETE")}
    before = reconciles("resync")
    assert runner.store is not None
    for key in runner.store.all_keys():  # what the periodic resync does
        runner.queue.add(key)
    wait_for(lambda: reconciles("resync") >= before + 10, timeout=20, message="resync reconciles")
    assert runner.queue.wait_idle(10)
    assert {method: requests(method) for method in writes} == writes, "a resync of unchanged objects writes nothing"
    after = {g["metadata"]["name"]: g["metadata"]["resourceVersion"] for g in kube.list(GREETING, namespace)["items"]}
    assert after == versions


class BadStatus(Resource[GreetingSpec]):
    """An operator bug: a condition metav1 would reject (built unchecked, as a resource could)."""

    def ensure_created(self, ctx: Context[GreetingSpec]) -> None:
        broken = Condition.model_construct(
            type="Broken", status="True", reason="not a reason", message="", last_transition_time=timestamps.now()
        )
        ctx.status.conditions.append(broken)

    def ensure_deleted(self, ctx: Context[GreetingSpec]) -> None:
        return None


def test_a_status_the_model_rejects_is_not_written(kube, namespace, run_operator):
    run_operator([greeting_controller("badstatus", extra=[BadStatus()], backoff_base=0.5)])
    kube.create(GREETING, greeting("g", namespace))

    def invalid() -> dict[str, Any] | None:
        condition = condition_of(kube, GREETING, "g", namespace)
        return condition if condition and condition["reason"] == "InvalidStatus" else None

    condition = wait_for(invalid, timeout=20, message="InvalidStatus")
    assert isinstance(condition, dict)
    assert condition["status"] == "False"
    assert re.search(r"status\.conditions\.\d+\.reason", condition["message"]), condition["message"]
    stored = kube.get(GREETING, "g", namespace)["status"]
    assert [c["type"] for c in stored["conditions"]] == ["Ready"], "the invalid condition was not written"


class Holder(Resource[GreetingSpec]):
    """At deletion: records the spec it reads, and holds the deletion (a wait, as for VMs to go) until opened."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.seen: list[tuple[str, bool]] = []

    def ensure_created(self, ctx: Context[GreetingSpec]) -> None:
        return None

    def ensure_deleted(self, ctx: Context[GreetingSpec]) -> None:
        self.seen.append((ctx.spec.message, ctx.valid_spec is None))
        if not self.open.is_set():
            raise RequeueAfter(0.2, "waiting for the gate")


def deletion_waiting(controller: str) -> float:
    return metric_sum("operatorkit_deletion_waiting_seconds", controller=controller)


def test_a_spec_made_invalid_is_deleted_with_the_deletion_spec_and_a_held_deletion_is_measured(
    kube, namespace, run_operator
):
    """A spec changed into one the model refuses (the Greeting CRD checks nothing) cannot stop the deletion: the
    controller's ``deletion_spec`` stands in for it. While the deletion is held, the Ready condition says what it
    waits for and ``operatorkit_deletion_waiting_seconds`` grows; once done, it is back to 0."""
    holder = Holder()
    run_operator(
        [
            greeting_controller(
                "fallback", extra=[holder], deletion_spec=lambda obj: GreetingSpec(message=obj["metadata"]["name"])
            )
        ]
    )
    kube.create(GREETING, greeting("g", namespace))
    wait_for(lambda: is_true(kube.get(GREETING, "g", namespace).get("status"), "Ready"), timeout=20, message="ready")
    kube.patch(GREETING, "g", {"spec": {"message": ""}}, namespace)
    wait_for(
        lambda: reason_of(kube, GREETING, "g", namespace) == "InvalidSpec",
        timeout=20,
        message="InvalidSpec",
    )
    kube.delete(GREETING, "g", namespace)
    wait_for(lambda: deletion_waiting("fallback") >= 1, timeout=20, message="the held deletion measured")
    assert holder.seen[0] == ("g", True), "the deletion spec, while valid_spec says the stored one is not valid"
    condition = condition_of(kube, GREETING, "g", namespace) or {}
    assert (condition.get("reason"), condition.get("message")) == ("Deleting", "waiting for the gate")
    holder.open.set()
    wait_for(lambda: kube.get_or_none(GREETING, "g", namespace) is None, timeout=20, message="deleted")
    wait_for(lambda: deletion_waiting("fallback") == 0, timeout=5, message="no deletion held")


class MakesThenCrashes(Resource[GreetingSpec]):
    """Records what it is about to make, writes that at once, then fails unexpectedly (a crash mid-reconcile)."""

    def ensure_created(self, ctx: Context[GreetingSpec]) -> None:
        ctx.set_condition("Made", "True", "AboutToMake", "recorded before the call that makes it")
        ctx.save_status()
        raise RuntimeError("the process stopped here")


def test_a_status_saved_mid_reconcile_survives_a_crash(kube, namespace, run_operator):
    run_operator([greeting_controller("saved", extra=[MakesThenCrashes()])])
    kube.create(GREETING, greeting("g", namespace))
    wait_for(
        lambda: is_true(kube.get(GREETING, "g", namespace).get("status"), "Made"),
        timeout=20,
        message="the write-ahead record stored though the reconcile never finished",
    )
    assert REGISTRY.get_sample_value("controller_runtime_reconcile_panics_total", {"controller": "saved"})
