"""A running controller: its queue, its workers and its resync timer. Workers take keys, run the reconcile
(:mod:`operatorkit._runtime.reconcile`) and turn its outcome into the next queue operation and the metrics."""

from __future__ import annotations

import random
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from operatorkit._base import metrics
from operatorkit._base.logs import reconcile_scope
from operatorkit._runtime.reconcile import Outcome
from operatorkit._runtime.workqueue import ExponentialBackoff, ObjectRateLimiter, ShutDown, WorkQueue

if TYPE_CHECKING:
    from collections.abc import Callable

    from operatorkit._core.cache import CacheReader
    from operatorkit._core.controller import Controller
    from operatorkit._core.settings import ReconcileSettings
    from operatorkit._runtime.reconcile import Reconciler


class ControllerRunner:
    """Runs one declared controller. ``workers`` and ``resync_period`` come from the declaration when it sets
    them, else from the operator's settings (applied to every controller: nothing is forwarded by hand)."""

    def __init__(
        self,
        declaration: Controller[Any, Any],
        *,
        workers: int,
        resync_period: float,
        reconcile: ReconcileSettings,
        may_reconcile: Callable[[], bool],
    ) -> None:
        self.declaration = declaration
        self.name = declaration.name
        self.workers = declaration.workers or workers
        self.resync_period = declaration.resync_period or resync_period
        backoff = ExponentialBackoff(
            declaration.backoff_base or reconcile.backoff_base, declaration.backoff_cap or reconcile.backoff_cap
        )
        self.queue = WorkQueue(self.name, backoff, ObjectRateLimiter(reconcile.object_rate, reconcile.object_burst))
        self.reconciler: Reconciler | None = None
        self.store: CacheReader | None = None
        self._may_reconcile = may_reconcile
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        metrics.zero_controller_series(self.name, self.workers, [r.name for r in declaration.resources])

    def settled(self) -> bool:
        """Nothing queued and nothing running (for tests and shutdown)."""
        return len(self.queue) == 0 and not self.queue.processing()

    def start(self) -> None:
        assert self.reconciler is not None, "wired by the operator"
        assert self.store is not None, "wired by the operator"
        self._stopping.clear()
        if self.declaration.before_start is not None:
            self.declaration.before_start(self.store.objects())
        for index in range(self.workers):
            self._spawn(self._work, f"{self.name}-worker-{index}")
        self._spawn(self._resync_loop, f"{self.name}-resync")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, timeout: float, *, drop_queued: bool = True) -> bool:
        """Stop taking work and wait up to ``timeout`` for in-flight reconciles; False if some did not finish."""
        self._stopping.set()
        if drop_queued:
            self.queue.shut_down_now()
        else:
            self.queue.shut_down()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def _resync_loop(self) -> None:
        assert self.store is not None
        while not self._stopping.wait(self.resync_period * random.uniform(1.0, 1.1)):
            for key in self.store.all_keys():
                self.queue.add(key)

    def _work(self) -> None:
        active = metrics.active_workers.labels(self.name)
        while True:
            try:
                key = self.queue.get()
            except ShutDown:
                return
            if key is None:
                continue
            try:
                if not self._may_reconcile():
                    continue  # leadership lost: the operator is shutting this controller down
                active.inc()
                try:
                    self.process(key)
                finally:
                    active.dec()
            finally:
                self.queue.done(key)

    def process(self, key: str) -> None:
        assert self.reconciler is not None
        started = time.monotonic()
        with reconcile_scope(self.name, key, uuid.uuid4().hex[:12]) as log:
            try:
                outcome = self.reconciler.reconcile(key, log)
            except Exception:
                log.exception("unexpected error in reconcile")
                metrics.reconcile_panics_total.labels(self.name).inc()
                metrics.reconcile_errors_total.labels(self.name).inc()
                outcome = Outcome("error", rate_limited=True)
            elapsed = time.monotonic() - started
            log.debug("reconcile finished: %s in %.3f s", outcome.result, elapsed)
        metrics.reconcile_time_seconds.labels(self.name).observe(elapsed)
        metrics.reconcile_total.labels(self.name, outcome.result).inc()
        if outcome.rate_limited:
            self.queue.add_rate_limited(key)
            return
        self.queue.forget(key)
        if outcome.requeue_after is not None:
            self.queue.add_after(key, outcome.requeue_after)
