"""When a drain started, read back from the Node (pure logic): a record the guest's admin wrote — garbage, a
moment to come — restarts the clock instead of failing the pool's reconcile."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from kvm_operator.drain import DRAIN_STARTED, drain_started

NOW = datetime.datetime(2026, 12, 7, 12, 0, 0, tzinfo=datetime.UTC)


def node(recorded: Any, *, unschedulable: bool = True) -> dict[str, Any]:
    annotations = {} if recorded is None else {DRAIN_STARTED: recorded}
    return {"metadata": {"name": "worker-0", "annotations": annotations}, "spec": {"unschedulable": unschedulable}}


@pytest.mark.parametrize(
    ("found", "started"),
    [
        (node("2026-12-07T11:55:00Z"), datetime.datetime(2026, 12, 7, 11, 55, tzinfo=datetime.UTC)),
        (node("2026-12-07T11:55:00Z", unschedulable=False), None),  # uncordoned since: a new drain
        (node(None), None),
        (node("not a time"), None),  # written by the guest's admin
        (node("9" * 10_000), None),
        (node(12345), None),
        (node("2027-01-01T00:00:00Z"), None),  # in the future: the drain would never time out
    ],
)
def test_a_recorded_drain_start(found: dict[str, Any], started: datetime.datetime | None) -> None:
    assert drain_started(found, NOW) == started
