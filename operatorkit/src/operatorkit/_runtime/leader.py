"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's timing (15 s / 10 s / 2 s).

Leadership is only trusted while the last successful renewal is younger than the renew deadline, measured on
the monotonic clock: a replica that was frozen (SIGSTOP, a long GC pause, a partition) knows it is no longer
leader the instant it wakes, before any worker can start another reconcile.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import TYPE_CHECKING

from operatorkit import timestamps
from operatorkit._base import metrics
from operatorkit._base.client import ApiError
from operatorkit.kinds import LEASE

if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable

    from operatorkit._base.client import KubeClient

log = logging.getLogger(__name__)


def _format(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        client: KubeClient,
        *,
        name: str,
        namespace: str,
        identity: str | None = None,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        on_started_leading: Callable[[], None] | None = None,
        on_stopped_leading: Callable[[], None] | None = None,
    ) -> None:
        if not lease_duration > renew_deadline > retry_period:
            raise ValueError("need lease_duration > renew_deadline > retry_period")
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity or f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self._last_renewed: float | None = None  # monotonic time of our last successful acquire/renew
        # Like client-go, judge another holder's lease by when *we* last saw its record change, on our own
        # monotonic clock: immune to clock skew between replicas.
        self._observed: tuple[str | None, str | None] | None = None
        self._observed_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = metrics.leader_election_master_status.labels(name)
        self._status.set(0)

    def is_leader(self) -> bool:
        renewed = self._last_renewed
        return renewed is not None and time.monotonic() - renewed < self.renew_deadline

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)
        self._thread.start()

    def stop(self, release: bool = True) -> None:
        """Stop renewing; with ``release`` the lease is handed back so a standby takes over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.retry_period + 5)
        if release and self.is_leader():
            try:
                lease = self.client.get(LEASE, self.name, self.namespace)
                if lease.get("spec", {}).get("holderIdentity") == self.identity:
                    spec = {
                        **lease["spec"],
                        "holderIdentity": None,
                        "leaseDurationSeconds": 1,
                        "renewTime": _format(timestamps.now()),
                    }
                    self.client.replace(LEASE, {**lease, "spec": spec})
            except ApiError as exc:
                log.warning("could not release the lease: %s", exc)
        self._lose()

    def _run(self) -> None:
        while not self._stop.is_set():
            leading = self._last_renewed is not None  # what we believed, even if it has expired by now
            # A renewal counts from when it was *sent*: a standby times the lease from when it sees the new record,
            # which is after the write, so leadership always ends here before a standby can take over — even when
            # the API server answers slowly (timing it from the answer let a frozen leader outlive its lease).
            sent = time.monotonic()
            try:
                acquired = self._try_acquire_or_renew()
            except (ApiError, OSError, ValueError) as exc:
                log.warning("lease %s/%s: %s", self.namespace, self.name, exc)
                acquired = False
            if acquired and time.monotonic() - sent >= self.renew_deadline:
                acquired = False  # answered too late to count (a freeze mid-request): a standby may hold it now
            if acquired:
                self._last_renewed = sent
                if not leading:
                    log.info("became leader", extra={"identity": self.identity})
                    self._status.set(1)
                    if self.on_started_leading:
                        self.on_started_leading()
            elif leading and not self.is_leader():
                self._lose()
            self._stop.wait(self.retry_period)

    def _lose(self) -> None:
        if self._last_renewed is None:
            return
        self._last_renewed = None
        self._status.set(0)
        log.warning("lost leadership of %s/%s", self.namespace, self.name)
        if self.on_stopped_leading:
            self.on_stopped_leading()

    def _try_acquire_or_renew(self) -> bool:
        now = timestamps.now()
        lease = self.client.get_or_none(LEASE, self.name, self.namespace)
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.lease_duration),
            "acquireTime": _format(now),
            "renewTime": _format(now),
            "leaseTransitions": 0,
        }
        if lease is None:
            try:
                self.client.create(LEASE, {"metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec})
            except ApiError as exc:
                if exc.conflict:
                    return False
                raise
            return True
        current = lease.get("spec", {})
        holder = current.get("holderIdentity")
        record = (holder, current.get("renewTime"))
        if record != self._observed:
            self._observed, self._observed_at = record, time.monotonic()
        duration = float(current.get("leaseDurationSeconds") or self.lease_duration)
        expired = time.monotonic() - self._observed_at > duration
        if holder and holder != self.identity and not expired:
            return False
        if holder == self.identity:
            spec["acquireTime"] = current.get("acquireTime") or spec["acquireTime"]
            spec["leaseTransitions"] = current.get("leaseTransitions", 0)
        else:
            spec["leaseTransitions"] = current.get("leaseTransitions", 0) + 1
        try:
            self.client.replace(LEASE, {**lease, "spec": spec})  # resourceVersion guards the takeover
        except ApiError as exc:
            if exc.conflict:
                return False
            raise
        return True
