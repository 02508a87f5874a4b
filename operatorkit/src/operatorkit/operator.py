"""The process around the controllers: shared informers, leader election, probes and graceful shutdown."""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from operatorkit.controller import OwnerHandler
from operatorkit.events import EventRecorder
from operatorkit.informer import Informer
from operatorkit.leader import LeaderElector
from operatorkit.probes import ProbeServer

if TYPE_CHECKING:
    from collections.abc import Sequence

    from operatorkit.client import KubeClient
    from operatorkit.controller import Controller
    from operatorkit.kinds import Kind

log = logging.getLogger(__name__)


class Operator:
    """Runs controllers in one process. Informers run on every replica (warm standby); workers only on the leader.

    Losing the lease stops every worker at once and makes :meth:`run` return 1, so the process exits and is
    restarted clean (controller-runtime does the same).
    """

    def __init__(
        self,
        name: str,
        client: KubeClient,
        controllers: Sequence[Controller[Any]],
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        leader_election: bool = True,
        leader_election_namespace: str = "default",
        leader_election_id: str | None = None,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        metrics_address: str | None = ":8080",
        probe_address: str | None = ":8081",
        shutdown_timeout: float = 30.0,
        inactivity_timeout: float = 180.0,
        identity: str | None = None,
    ) -> None:
        self.name = name
        self.client = client
        self.controllers = list(controllers)
        self.namespace = namespace
        self.label_selector = label_selector
        self.shutdown_timeout = shutdown_timeout
        self.inactivity_timeout = inactivity_timeout
        self.identity = identity or f"{socket.gethostname()}-{name}"
        self._informers: dict[tuple[Kind, str | None, str | None], Informer] = {}
        self._done = threading.Event()
        self._exit_code = 0
        self._controllers_started = False
        self._lock = threading.Lock()
        self.elector: LeaderElector | None = None
        if leader_election:
            self.elector = LeaderElector(
                client,
                name=leader_election_id or name,
                namespace=leader_election_namespace,
                identity=identity,
                lease_duration=lease_duration,
                renew_deadline=renew_deadline,
                retry_period=retry_period,
                on_started_leading=self._start_controllers,
                on_stopped_leading=self._lost_leadership,
            )
        self._servers: list[ProbeServer] = []
        if metrics_address and metrics_address == probe_address:
            self._servers.append(ProbeServer(metrics_address, metrics=True, healthz=self.healthz, readyz=self.readyz))
        else:
            if metrics_address:
                self._servers.append(ProbeServer(metrics_address, metrics=True, healthz=None, readyz=None))
            if probe_address:
                self._servers.append(
                    ProbeServer(probe_address, metrics=False, healthz=self.healthz, readyz=self.readyz)
                )
        self._wire()

    # -- informers -------------------------------------------------------------------------------------------
    def informer(self, kind: Kind, label_selector: str | None = None) -> Informer:
        """The shared informer of ``kind`` in this operator's namespace (one per kind and selector)."""
        namespace = self.namespace if kind.namespaced else None
        key = (kind, namespace, label_selector)
        if key not in self._informers:
            self._informers[key] = Informer(
                self.client,
                kind,
                namespace=namespace,
                label_selector=label_selector,
                inactivity_timeout=self.inactivity_timeout,
            )
        return self._informers[key]

    @property
    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    def _wire(self) -> None:
        events = EventRecorder(self.client, self.name, self.identity)
        for controller in self.controllers:
            informers: dict[Kind, Informer] = {}
            for kind in controller.owns:
                dependent = self.informer(kind, controller.owned_selector)
                dependent.add_handler(OwnerHandler(controller.enqueue_owners, owner=controller))
                informers[kind] = dependent
            for kind, mapper in controller.watches:
                watched = self.informer(kind)
                watched.add_handler(OwnerHandler(controller.mapped_enqueuer(mapper), owner=controller))
                informers[kind] = watched
            controller.bind(
                client=self.client,
                informer=self.informer(controller.kind, self.label_selector),
                informers=informers,
                events=events,
                field_manager=self.name,
                may_reconcile=self._may_reconcile,
            )

    # -- probes ----------------------------------------------------------------------------------------------
    def healthz(self) -> str | None:
        stalled = [repr(informer) for informer in self.informers if informer.synced.is_set() and informer.stalled()]
        return f"stalled: {', '.join(stalled)}" if stalled else None

    def readyz(self) -> str | None:
        waiting = [repr(informer) for informer in self.informers if not informer.synced.is_set()]
        return f"not synced: {', '.join(waiting)}" if waiting else None

    @property
    def http_ports(self) -> list[int]:
        return [server.port for server in self._servers]

    # -- lifecycle -------------------------------------------------------------------------------------------
    def _may_reconcile(self) -> bool:
        return not self._done.is_set() and (self.elector is None or self.elector.is_leader())

    def start(self) -> None:
        for server in self._servers:
            server.start()
        for informer in self.informers:
            informer.start()
        if self.elector is not None:
            self.elector.start()
        else:
            self._start_controllers()

    def _start_controllers(self) -> None:
        with self._lock:
            if self._controllers_started or self._done.is_set():
                return
            self._controllers_started = True
        threading.Thread(target=self._start_when_synced, name="controller-start", daemon=True).start()

    def _start_when_synced(self) -> None:
        while not all(informer.wait_synced(0.5) for informer in self.informers):
            if self._done.is_set():
                return
        if self._may_reconcile():
            log.info("caches synced; starting %d controllers", len(self.controllers))
            for controller in self.controllers:
                controller.start()

    def _lost_leadership(self) -> None:
        if self._done.is_set():
            return
        log.error("leader election lost; stopping all controllers")
        for controller in self.controllers:
            controller.queue.shut_down_now()
        self._exit_code = 1
        self._done.set()

    def request_stop(self) -> None:
        self._done.set()

    def run(self) -> int:
        """Run until SIGTERM/SIGINT (graceful) or lost leadership; the process exit code."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.request_stop())
        self.start()
        self._done.wait()
        self.stop()
        return self._exit_code

    def stop(self) -> None:
        """Stop taking work, finish what is in flight, hand the lease back, all within ``shutdown_timeout``."""
        self._done.set()
        started = time.monotonic()
        budget = self.shutdown_timeout - 3.0  # keep time to release the lease and close connections
        for controller in self.controllers:
            remaining = max(0.0, budget - (time.monotonic() - started))
            if not controller.stop(remaining):
                log.warning("%s: reconciles still running at shutdown", controller.name)
        if self.elector is not None:
            self.elector.stop(release=self._exit_code == 0)
        for informer in self.informers:
            informer.stop(timeout=1.0)
        for server in self._servers:
            server.stop()
        log.info("stopped in %.1f s", time.monotonic() - started)
