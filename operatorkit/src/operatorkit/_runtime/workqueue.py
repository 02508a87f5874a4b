"""A work queue with client-go's guarantees: a key is queued at most once, never handed to two workers at
once (a key added while it is being processed is queued again when ``done`` is called), delayed adds, and
per-item exponential backoff with jitter — plus a floor: a token bucket per key, so no path (requeues, events
of the operator's own writes, a fight with another controller) can reconcile one object faster than the bucket
allows. A key held back by its bucket is counted in ``operatorkit_reconcile_throttled_total``.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time

from operatorkit._base import metrics


class ShutDown(Exception):
    """The queue was shut down; workers should return."""


class ExponentialBackoff:
    """Per-item delay: ``base * 2**failures`` capped at ``cap``, times a jitter factor in [1, 1 + jitter)."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0, jitter: float = 0.1) -> None:
        self.base, self.cap, self.jitter = base, cap, jitter
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()

    def when(self, key: str) -> float:
        with self._lock:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
        delay: float = self.base * 2.0 ** min(failures, 64)
        return min(self.cap, delay * random.uniform(1.0, 1.0 + self.jitter))

    def failures(self, key: str) -> int:
        with self._lock:
            return self._failures.get(key, 0)

    def forget(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


class ObjectRateLimiter:
    """A token bucket per key: ``burst`` reconciles at once, then ``rate`` per second. Full buckets are forgotten,
    so memory follows the keys that are busy, not all keys ever seen."""

    def __init__(self, rate: float = 0.5, burst: int = 10) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("need rate > 0 and burst >= 1")
        self.rate, self.burst = rate, float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def reserve(self, key: str, now: float) -> float:
        """Take a token for ``key``: 0 when one was there, else the seconds until one will be (none taken)."""
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > 1024:
            self._forget_full(now)
        return 0.0

    def _forget_full(self, now: float) -> None:
        for key, (tokens, at) in list(self._buckets.items()):
            if tokens + (now - at) * self.rate >= self.burst:
                del self._buckets[key]


class WorkQueue:
    """The queue of one controller; ``name`` labels its metrics (controller-runtime uses the controller name)."""

    def __init__(
        self, name: str, backoff: ExponentialBackoff | None = None, limiter: ObjectRateLimiter | None = None
    ) -> None:
        self.name = name
        self.backoff = backoff or ExponentialBackoff()
        self.limiter = limiter
        self._throttled = metrics.reconcile_throttled_total.labels(name)
        self._cond = threading.Condition()
        self._queue: list[str] = []  # FIFO; popping from the front is fine at these sizes via index
        self._head = 0
        self._dirty: set[str] = set()
        self._processing: dict[str, float] = {}  # key -> start time
        self._added_at: dict[str, float] = {}
        self._delayed: list[tuple[float, int, str]] = []
        self._delayed_due: dict[str, float] = {}
        self._sequence = itertools.count()
        self._shutting_down = False
        labels = (name, name)
        self._depth = metrics.workqueue_depth.labels(*labels)
        self._adds = metrics.workqueue_adds_total.labels(*labels)
        self._retries = metrics.workqueue_retries_total.labels(*labels)
        self._queue_duration = metrics.workqueue_queue_duration_seconds.labels(*labels)
        self._work_duration = metrics.workqueue_work_duration_seconds.labels(*labels)
        metrics.workqueue_unfinished_work_seconds.labels(*labels).set_function(self._unfinished_seconds)
        metrics.workqueue_longest_running_processor_seconds.labels(*labels).set_function(self._longest_running)

    # -- adding ----------------------------------------------------------------------------------------------
    def add(self, key: str) -> None:
        with self._cond:
            self._add_locked(key)

    def _add_locked(self, key: str) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._adds.inc()
        self._dirty.add(key)
        self._added_at.setdefault(key, time.monotonic())
        if key in self._processing:
            return  # re-queued by done()
        self._queue.append(key)
        self._depth.set(len(self._queue) - self._head)
        self._cond.notify()

    def add_after(self, key: str, delay: float) -> None:
        """Add ``key`` after ``delay`` seconds; an earlier pending add of the same key wins."""
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            if self._shutting_down:
                return
            self._delay_locked(key, time.monotonic() + delay)
            self._cond.notify()

    def add_rate_limited(self, key: str) -> float:
        """Add after this key's next backoff delay; returns the delay."""
        delay = self.backoff.when(key)
        self._retries.inc()
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        """Reset the key's backoff (after a success)."""
        self.backoff.forget(key)

    # -- taking ----------------------------------------------------------------------------------------------
    def _promote_due_locked(self, now: float) -> float | None:
        """Move due delayed keys into the queue; the seconds until the next one is due, if any."""
        while self._delayed:
            due, _, key = self._delayed[0]
            if self._delayed_due.get(key) != due:
                heapq.heappop(self._delayed)  # superseded by an earlier add_after
                continue
            if due > now:
                return due - now
            heapq.heappop(self._delayed)
            del self._delayed_due[key]
            self._add_locked(key)
        return None

    def get(self, timeout: float | None = None) -> str | None:
        """Block for the next key (None after ``timeout``); raises :class:`ShutDown` once shut down."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                now = self._wait_ready_locked(deadline)
                if now is None:
                    return None
                key = self._queue[self._head]
                self._head += 1
                if self._head > 1024 and self._head * 2 > len(self._queue):
                    del self._queue[: self._head]
                    self._head = 0
                self._depth.set(len(self._queue) - self._head)
                self._dirty.discard(key)
                if self.limiter is not None and (wait := self.limiter.reserve(key, now)) > 0:
                    self._throttled.inc()  # held back, not lost: due again when its bucket has a token
                    self._delay_locked(key, now + wait)
                    continue
                self._processing[key] = now
                if (added := self._added_at.pop(key, None)) is not None:
                    self._queue_duration.observe(now - added)
                return key

    def _wait_ready_locked(self, deadline: float | None) -> float | None:
        """Wait until a key is ready to hand out (the time then), or None once ``deadline`` passed."""
        while True:
            now = time.monotonic()
            next_due = self._promote_due_locked(now)
            if self._head < len(self._queue):
                return now
            if self._shutting_down:
                raise ShutDown
            wait = next_due
            if deadline is not None:
                if now >= deadline:
                    return None
                wait = deadline - now if wait is None else min(wait, deadline - now)
            self._cond.wait(wait)

    def _delay_locked(self, key: str, due: float) -> None:
        """Hold ``key`` back until ``due`` (an earlier pending delayed add wins)."""
        if (current := self._delayed_due.get(key)) is not None and current <= due:
            return
        self._delayed_due[key] = due
        heapq.heappush(self._delayed, (due, next(self._sequence), key))

    def done(self, key: str) -> None:
        with self._cond:
            started = self._processing.pop(key, None)
            if started is not None:
                self._work_duration.observe(time.monotonic() - started)
            if key in self._dirty:
                self._queue.append(key)
                self._depth.set(len(self._queue) - self._head)
                self._cond.notify()

    # -- state -----------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        with self._cond:
            return len(self._queue) - self._head

    def processing(self) -> set[str]:
        with self._cond:
            return set(self._processing)

    def shut_down(self) -> None:
        """Stop handing out keys once the queue is empty of ready keys; delayed keys are dropped."""
        with self._cond:
            self._shutting_down = True
            self._delayed.clear()
            self._delayed_due.clear()
            self._cond.notify_all()

    def shut_down_now(self) -> None:
        """Stop at once: queued keys are dropped too (used when leadership is lost)."""
        with self._cond:
            self._queue.clear()
            self._head = 0
            self._dirty.clear()
            self._depth.set(0)
        self.shut_down()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no key is being processed; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._processing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.1))
            return True

    def _unfinished_seconds(self) -> float:
        now = time.monotonic()
        with self._cond:
            return sum(now - started for started in self._processing.values())

    def _longest_running(self) -> float:
        now = time.monotonic()
        with self._cond:
            return max((now - started for started in self._processing.values()), default=0.0)
