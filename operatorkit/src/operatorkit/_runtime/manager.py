"""The process around the controllers (controller-runtime's manager): shared informers wired from the
controllers' declarations, leader election, probes, metrics and graceful shutdown."""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from operatorkit._runtime.events import EventRecorder
from operatorkit._runtime.handlers import MappedHandler, PrimaryHandler, mapped_keys, owner_keys
from operatorkit._runtime.informer import Informer
from operatorkit._runtime.leader import LeaderElector
from operatorkit._runtime.probes import ProbeServer
from operatorkit._runtime.reconcile import Reconciler
from operatorkit._runtime.worker import ControllerRunner
from operatorkit._runtime.writes import PrimaryWriter

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from operatorkit._base.client import KubeClient, Object
    from operatorkit._core.cache import CacheReader
    from operatorkit._core.controller import Controller
    from operatorkit._core.settings import OperatorSettings
    from operatorkit.kinds import Kind

log = logging.getLogger(__name__)


def _write_through(informers: dict[Kind, Informer], writer: object) -> Callable[[Kind, Object], None]:
    """Put a controller's own writes into the shared caches; every other controller hears of them at once."""

    def remember(kind: Kind, obj: Object) -> None:
        if (informer := informers.get(kind)) is not None:
            informer.remember(obj, writer=writer)

    return remember


class Operator:
    """Runs controllers in one process. Informers run on every replica (warm standby); workers only on the leader.

    Losing the lease stops every worker at once and makes :meth:`run` return 1, so the process exits and is
    restarted clean (controller-runtime does the same).
    """

    def __init__(
        self,
        controllers: Sequence[Controller[Any, Any]],
        settings: OperatorSettings,
        *,
        client: KubeClient,
        name: str | None = None,
    ) -> None:
        self.settings = settings
        self.name = name or settings.operator_name()
        self.client = client
        self.identity = f"{socket.gethostname()}-{self.name}"
        self._informers: dict[tuple[Kind, str | None, str | None], Informer] = {}
        self._done = threading.Event()
        self._exit_code = 0
        self._controllers_started = False
        self._lock = threading.Lock()
        self.runners = [
            ControllerRunner(
                declaration,
                workers=settings.workers,
                resync_period=settings.resync_period,
                reconcile=settings.reconcile,
                may_reconcile=self._may_reconcile,
            )
            for declaration in controllers
        ]
        election = settings.leader_election
        self.elector: LeaderElector | None = None
        if election.enabled:
            self.elector = LeaderElector(
                client,
                name=election.id or f"{self.name}-leader",
                namespace=election.namespace,
                lease_duration=election.lease_duration,
                renew_deadline=election.renew_deadline,
                retry_period=election.retry_period,
                on_started_leading=self._start_controllers,
                on_stopped_leading=self._lost_leadership,
            )
        self._servers = self._http_servers()
        self._wire()

    def _http_servers(self) -> list[ProbeServer]:
        metrics, probes = self.settings.http.metrics_address, self.settings.http.probe_address
        if metrics and metrics == probes:
            return [ProbeServer(metrics, metrics=True, healthz=self.healthz, readyz=self.readyz)]
        servers = []
        if metrics:
            servers.append(ProbeServer(metrics, metrics=True, healthz=None, readyz=None))
        if probes:
            servers.append(ProbeServer(probes, metrics=False, healthz=self.healthz, readyz=self.readyz))
        return servers

    # -- wiring: everything comes from the declarations ---------------------------------------------------------
    def informer(self, kind: Kind, label_selector: str | None = None) -> Informer:
        """The shared informer of ``kind`` in this operator's namespace (one per kind and selector)."""
        namespace = self.settings.namespace if kind.namespaced else None
        key = (kind, namespace, label_selector)
        if key not in self._informers:
            self._informers[key] = Informer(
                self.client,
                kind,
                namespace=namespace,
                label_selector=label_selector,
                inactivity_timeout=self.settings.watch.inactivity_timeout,
            )
        return self._informers[key]

    @property
    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    def runner(self, name: str) -> ControllerRunner:
        """The running controller ``name`` (its queue and cache; for tests and diagnostics)."""
        return next(runner for runner in self.runners if runner.name == name)

    def _wire(self) -> None:
        events = EventRecorder(self.client, self.name, self.identity)
        for runner in self.runners:
            declaration = runner.declaration
            primary = self.informer(declaration.kind, self.settings.selector)
            primary.add_handler(PrimaryHandler(runner.queue, owner=runner))
            informers: dict[Kind, Informer] = {declaration.kind: primary}
            for kind in declaration.owns:
                owned = self.informer(kind, declaration.owned_selector)
                owned.add_handler(MappedHandler(owner_keys(declaration.kind), runner.queue, owner=runner))
                informers[kind] = owned
            for watch in declaration.watches:
                if watch.kind in informers and watch.selector is not None:
                    raise ValueError(
                        f"{declaration.name}: {watch.kind.kind} is cached already; its watch cannot narrow it"
                    )
                watched = informers.get(watch.kind) or self.informer(watch.kind, watch.selector)
                watched.add_handler(MappedHandler(mapped_keys(watch.mapper, primary.store), runner.queue, runner))
                informers[watch.kind] = watched
            for index in declaration.indexes:
                informers[index.kind].store.add_indexer(index.name, index.func)
            caches: dict[Kind, CacheReader] = {kind: informer.store for kind, informer in informers.items()}

            def remember(
                kind: Kind, obj: Object, informers: dict[Kind, Informer] = informers, writer: object = runner
            ) -> None:
                if (informer := informers.get(kind)) is not None:
                    informer.remember(obj, writer=writer)

            writer = PrimaryWriter(self.client, declaration.kind, declaration.finalizer, remember, runner.queue.add)
            runner.store = primary.store
            runner.reconciler = Reconciler(
                declaration,
                client=self.client,
                caches=caches,
                events=events,
                field_manager=self.name,
                writer=writer,
                remember=remember,
                wait_cap=runner.queue.backoff.cap,
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
            log.info("caches synced; starting %d controllers", len(self.runners))
            for runner in self.runners:
                runner.start()

    def _lost_leadership(self) -> None:
        if self._done.is_set():
            return
        log.error("leader election lost; stopping all controllers")
        self._exit_code = 1
        self._done.set()
        for runner in self.runners:
            runner.stop(0.0)

    def request_stop(self) -> None:
        self._done.set()

    def run(self) -> int:
        """Run until SIGTERM/SIGINT (graceful) or lost leadership; the process exit code."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.request_stop())
        self.start()
        # Wake up now and then: a signal the kernel hands to another thread only sets a flag, and Python runs the
        # handler when the main thread next runs Python code — never, if it blocks without a timeout (seen: a
        # SIGTERM that did nothing for 30 s).
        while not self._done.wait(0.5):
            pass
        self.stop()
        return self._exit_code

    def stop(self) -> None:
        """Stop taking work, finish what is in flight, hand the lease back, all within the shutdown timeout."""
        self._done.set()
        started = time.monotonic()
        budget = self.settings.shutdown_timeout - 3.0  # keep time to release the lease and close connections
        for runner in self.runners:
            remaining = max(0.0, budget - (time.monotonic() - started))
            if not runner.stop(remaining):
                log.warning("%s: reconciles still running at shutdown", runner.name)
        if self.elector is not None:
            self.elector.stop(release=self._exit_code == 0)
        for informer in self.informers:
            informer.stop(timeout=1.0)
        for server in self._servers:
            server.stop()
        log.info("stopped in %.1f s", time.monotonic() - started)
