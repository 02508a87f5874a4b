"""Test helpers for operator suites (a pytest plugin: ``-p operatorkit.testing`` or an entry point).

The suite provides a ``kube`` fixture (a :class:`~operatorkit.KubeClient` for its cluster); this module adds
``operator_runner``, which starts operators in-process — no leader election, HTTP on free loopback ports, caches
synced before it returns — and stops every one of them at teardown. :func:`apply_crds` installs CRDs and waits
until the API server serves them. Waiting is always on a condition with a deadline (:func:`wait_until`), never
a sleep (:func:`wait_progressing` for a wave whose pace depends on the CPU a run gets: it fails when the wave
stops moving); :func:`holds_for` asserts that something stays true over an observation window. :func:`status_of`,
:func:`condition_of` and :func:`reason_of` read what an operator reported; :func:`metric_sum` reads what it counted.
:func:`crd_disagreements` names where a CRD's schema and the spec and status models disagree (empty: they agree).
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import TYPE_CHECKING, Any, cast

import pytest
import yaml
from prometheus_client import REGISTRY

from operatorkit import KubeClient, Operator, OperatorSettings, get_condition, is_true
from operatorkit._core.context import Context
from operatorkit._core.crdschema import crd_disagreements as crd_disagreements
from operatorkit.kinds import CUSTOM_RESOURCE_DEFINITION
from operatorkit.platform import PLATFORM_ENV

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from pathlib import Path

    from operatorkit import Controller, Kind, Object
    from operatorkit._core.context import EventSink
    from operatorkit._core.status import Status


def offline_context(
    obj: Object, recorded: Callable[[], Any], *, spec: Any = None, status_model: type[Status] | None = None
) -> Context[Any, Any]:
    """A reconcile's context for pure tests of a resource: ``obj`` as read, no API server, events or caches."""
    return Context(
        obj=obj,
        spec=spec,
        spec_error=None,
        recorded=recorded,
        client=cast("KubeClient", None),
        log=logging.LoggerAdapter(logging.getLogger("operatorkit.testing"), {}),
        field_manager="test",
        events=cast("EventSink", None),
        caches={},
        deleting=False,
        remember=lambda kind, obj: None,
        status_model=status_model,
    )


def wait_until(condition: Callable[[], Any], *, timeout: float, interval: float = 0.1, message: str = "") -> Any:
    """Poll ``condition`` until it returns something truthy (returned); ``TimeoutError`` after ``timeout``.

    An exception from ``condition`` counts as "not yet" (an object not created yet, a server still starting); the
    last one is chained to the ``TimeoutError`` and named on its message's one line (the line a CI summary shows),
    so a timeout says why it never held. The test environment's ``kubeception_testenv.wait_for`` is this function.
    """
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            if result := condition():
                return result
        except Exception as exc:
            last = exc
        if time.monotonic() >= deadline:
            why = f" (last: {type(last).__name__}: {' '.join(str(last).split())})" if last else ""
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {message or 'condition'}{why}") from last
        time.sleep(interval)


def wait_progressing(
    pending: Callable[[], Mapping[str, str]], *, stall: float, limit: float, interval: float = 1.0, message: str = ""
) -> float:
    """Poll ``pending`` (what is not done yet: name → why) until it is empty; return the seconds it took.

    For a wave of many objects whose pace depends on the CPU the run gets (a stream that runs niced beside VMs):
    ``TimeoutError`` when the number pending has not fallen for ``stall`` seconds — stuck, not slow — or after
    ``limit``. An exception from ``pending`` counts as no progress. The message names the first few still pending.
    """
    began = progressed = time.monotonic()
    fewest: int | None = None
    left: Mapping[str, str] = {}
    error = ""
    while True:
        try:
            left, error = pending(), ""
        except Exception as exc:  # a server still busy: no progress this time
            error = f"; last: {type(exc).__name__}: {exc}"
        else:
            if not left:
                return time.monotonic() - began
            if fewest is None or len(left) < fewest:
                fewest, progressed = len(left), time.monotonic()
        now = time.monotonic()
        if now - progressed >= stall or now - began >= limit:
            why = "; ".join(f"{name}: {reason}" for name, reason in list(left.items())[:4]) + error
            raise TimeoutError(
                f"{message or 'pending'}: {len(left) or '?'} left after {now - began:.0f} s, "
                f"none done in the last {now - progressed:.0f} s ({' '.join(why.split())})"
            )
        time.sleep(interval)


def holds_for(condition: Callable[[], Any], seconds: float, interval: float = 0.1) -> bool:
    """Whether ``condition`` stays true for ``seconds`` (checked every ``interval``): for asserting that something
    does *not* happen — a loop, a write — over an observation window."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not condition():
            return False
        time.sleep(interval)
    return bool(condition())


def status_of(kube: KubeClient, kind: Kind, name: str, namespace: str | None = None) -> dict[str, Any]:
    """The object's ``status`` (``{}`` before the operator wrote one). An object that does not exist raises
    :class:`~operatorkit.ApiError` — inside :func:`wait_until` that is "not yet", in an assertion a failure — so a
    check that something is *absent* from the status cannot pass on an object that vanished."""
    return dict(kube.get(kind, name, namespace).get("status") or {})


def condition_of(
    kube: KubeClient, kind: Kind, name: str, namespace: str | None = None, *, type_: str = "Ready"
) -> dict[str, Any] | None:
    """The object's condition ``type_`` (None while it has none); a missing object raises, as in :func:`status_of`."""
    return get_condition(status_of(kube, kind, name, namespace), type_)


def reason_of(
    kube: KubeClient, kind: Kind, name: str, namespace: str | None = None, *, type_: str = "Ready"
) -> str | None:
    """The ``reason`` of the object's condition ``type_`` (None while it has none)."""
    found = condition_of(kube, kind, name, namespace, type_=type_)
    return found["reason"] if found else None


def metric_sum(name: str, /, **labels: str | Callable[[str], bool]) -> float:
    """The sum of the samples called ``name`` (``…_total`` for a counter) in prometheus_client's default registry
    whose labels match ``labels`` — each a value, or a predicate on the value; labels not named may be anything.
    0 when nothing matches (nothing counted yet)."""

    def matches(sample_labels: dict[str, str]) -> bool:
        for label, wanted in labels.items():
            value = sample_labels.get(label)
            if value is None or not (wanted(value) if callable(wanted) else value == wanted):
                return False
        return True

    return float(
        sum(
            sample.value
            for metric in REGISTRY.collect()
            for sample in metric.samples
            if sample.name == name and matches(sample.labels)
        )
    )


def in_process_settings(settings: type[OperatorSettings] = OperatorSettings, **overrides: Any) -> OperatorSettings:
    """Settings for an in-process operator under test: no leader election, HTTP on free loopback ports, and the
    platform's plan from ``KUBECEPTION_PLATFORM`` when the test environment names the mother's networks there."""
    values: dict[str, Any] = {
        "leader_election": {"enabled": False},
        "http": {"metrics_address": "127.0.0.1:0", "probe_address": "127.0.0.1:0"},
        **overrides,
    }
    if "platform" in settings.model_fields and "platform" not in values and (plan := os.environ.get(PLATFORM_ENV)):
        values["platform"] = json.loads(plan)
    return settings.model_validate(values)


class OperatorRunner:
    """Starts operators for a test and stops them all at the end."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self.started: list[Operator] = []

    def start(
        self,
        name: str,
        controllers: list[Controller[Any, Any]],
        *,
        client: KubeClient | None = None,
        settings: OperatorSettings | None = None,
        **overrides: Any,
    ) -> Operator:
        """Start ``controllers`` as operator ``name`` (``overrides``: settings fields, e.g. ``namespace=``)."""
        operator = Operator(
            controllers, settings or in_process_settings(**overrides), client=client or self.client, name=name
        )
        operator.start()
        self.started.append(operator)
        wait_until(lambda: operator.readyz() is None, timeout=30, message=f"{name} caches to sync")
        return operator

    def stop(self) -> None:
        for operator in self.started:
            operator.stop()
        self.started.clear()


@pytest.fixture
def operator_runner(kube: KubeClient) -> Iterator[OperatorRunner]:
    """Start in-process operators; every one is stopped gracefully at teardown."""
    runner = OperatorRunner(kube)
    yield runner
    runner.stop()


def apply_crds(client: KubeClient, *paths: Path, timeout: float = 30) -> list[str]:
    """Apply the CRDs in ``paths`` (server-side) and wait until each is Established; returns their names."""
    names = []
    for path in paths:
        for crd in yaml.safe_load_all(path.read_text()):
            if crd:
                client.apply(CUSTOM_RESOURCE_DEFINITION, crd, field_manager="operatorkit-testing")
                names.append(crd["metadata"]["name"])

    def established() -> bool:
        return all(
            is_true((client.get(CUSTOM_RESOURCE_DEFINITION, name)).get("status"), "Established") for name in names
        )

    wait_until(established, timeout=timeout, message=f"CRDs {', '.join(names)} to be established")
    return names
