"""What the benchmarks share: percentiles, and readiness observed through a watch cache (no API cost)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from operatorkit import is_true

if TYPE_CHECKING:
    from operatorkit._runtime.informer import Informer


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def wait_all_ready(informer: Informer, names: set[str], started: dict[str, float], timeout: float) -> dict[str, float]:
    """Poll the watch cache and note when each object is first seen Ready (with its serial, for certificates):
    seconds since ``started[name]``."""
    done: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(names):
        now = time.monotonic()
        for obj in informer.store.objects():
            name = obj["metadata"]["name"]
            status = obj.get("status") or {}
            if name in names and name not in done and is_true(status, "Ready") and status.get("serial", True):
                done[name] = now - started.get(name, now)
        if now > deadline:
            missing = sorted(names - set(done))
            raise TimeoutError(f"{len(missing)} of {len(names)} not Ready after {timeout:.0f} s, e.g. {missing[:3]}")
        time.sleep(0.02)
    return done
