"""Work-queue semantics (pure logic, no server): dedupe, one worker per key, delays, backoff."""

from __future__ import annotations

import threading
import time

import pytest

from operatorkit._runtime.workqueue import ExponentialBackoff, ShutDown, WorkQueue


def test_deduplicates_queued_keys():
    queue = WorkQueue("dedupe")
    for _ in range(3):
        queue.add("ns/a")
    queue.add("ns/b")
    assert len(queue) == 2
    assert [queue.get(0), queue.get(0)] == ["ns/a", "ns/b"]
    assert queue.get(0) is None


def test_key_added_while_processing_waits_for_done():
    queue = WorkQueue("processing")
    queue.add("k")
    assert queue.get(0) == "k"
    queue.add("k")  # changed again while a worker has it
    assert queue.get(0) is None, "a key must never be handed to a second worker while processing"
    queue.done("k")
    assert queue.get(0) == "k"


def test_no_key_runs_in_two_workers_at_once():
    queue = WorkQueue("concurrency")
    running: set[str] = set()
    overlaps: list[str] = []
    lock = threading.Lock()
    processed = 0

    def worker() -> None:
        nonlocal processed
        while True:
            try:
                key = queue.get()
            except ShutDown:
                return
            assert key is not None
            with lock:
                if key in running:
                    overlaps.append(key)
                running.add(key)
            time.sleep(0.001)  # simulated work, not synchronisation
            with lock:
                running.discard(key)
                processed += 1
            queue.done(key)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for round_ in range(200):
        for key in ("a", "b", "c"):
            queue.add(key)
        if round_ % 50 == 0:
            assert queue.wait_idle(5)
    assert queue.wait_idle(5)
    queue.shut_down()
    for thread in threads:
        thread.join(5)
    assert overlaps == []
    assert processed >= 3


def test_add_after_orders_by_due_time_and_earliest_wins():
    queue = WorkQueue("delayed")
    queue.add_after("late", 0.2)
    queue.add_after("early", 0.05)
    queue.add_after("late", 0.1)  # an earlier add of the same key wins
    queue.add_after("late", 5)  # a later one does not push it back
    started = time.monotonic()
    assert queue.get(2) == "early"
    assert queue.get(2) == "late"
    assert time.monotonic() - started < 1.0
    assert queue.get(0.05) is None


def test_backoff_doubles_with_jitter_caps_and_resets():
    backoff = ExponentialBackoff(base=0.005, cap=1000.0, jitter=0.1)
    delays = [backoff.when("k") for _ in range(20)]
    for n, delay in enumerate(delays[:17]):
        expected = 0.005 * 2**n
        assert expected <= delay < expected * 1.1 + 1e-12
    assert delays[-1] == 1000.0
    assert backoff.failures("k") == 20
    backoff.forget("k")
    assert backoff.failures("k") == 0
    assert backoff.when("k") < 0.006


def test_rate_limited_add_uses_per_item_backoff():
    queue = WorkQueue("ratelimited", ExponentialBackoff(base=0.01, jitter=0.0))
    assert queue.add_rate_limited("x") == pytest.approx(0.01)
    assert queue.add_rate_limited("x") == pytest.approx(0.02)
    assert queue.add_rate_limited("y") == pytest.approx(0.01), "backoff is per item"


def test_shut_down_now_drops_queued_keys():
    queue = WorkQueue("shutdown")
    queue.add("a")
    queue.add_after("b", 0.01)
    queue.shut_down_now()
    with pytest.raises(ShutDown):
        queue.get(0.5)
    queue.add("c")
    with pytest.raises(ShutDown):
        queue.get(0)
