"""The agent loop: the table's ConfigMap in, HAProxy's routes out (see the package docstring)."""

from __future__ import annotations

import json
import logging
import random
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import prometheus_client
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ingress_operator.agent import render
from ingress_operator.agent.runtime import Refused, Runtime
from ingress_operator.table import Route, Shape, decode
from operatorkit import Informer, KubeClient
from operatorkit.kinds import CONFIG_MAP

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ingress_operator.agent.settings import AgentSettings
    from operatorkit import Object


log = logging.getLogger(__name__)

REGISTRY = prometheus_client.CollectorRegistry()
APPLIED = prometheus_client.Gauge(
    "kubeception_ingress_agent_revision", "Routing table revision HAProxy serves", registry=REGISTRY
)
ROUTES = prometheus_client.Gauge("kubeception_ingress_agent_routes", "Routes HAProxy serves", registry=REGISTRY)
FAILED = prometheus_client.Gauge(
    "kubeception_ingress_agent_failed_routes", "Routes HAProxy refused (see /status)", registry=REGISTRY
)
UPDATES = prometheus_client.Counter(
    "kubeception_ingress_agent_runtime_updates", "Table revisions applied through the runtime API", registry=REGISTRY
)
COMMANDS = prometheus_client.Counter(
    "kubeception_ingress_agent_runtime_commands", "Runtime API commands sent to HAProxy", registry=REGISTRY
)
RELOADS = prometheus_client.Counter(
    "kubeception_ingress_agent_reloads", "HAProxy reloads, by result", ["result"], registry=REGISTRY
)
UP = prometheus_client.Gauge("kubeception_ingress_agent_haproxy_up", "1 while HAProxy answers", registry=REGISTRY)
APPLY_SECONDS = prometheus_client.Histogram(
    "kubeception_ingress_agent_apply_seconds",
    "Time from a table change seen to HAProxy serving it",
    ["how"],
    registry=REGISTRY,
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10),
)
for _result in ("success", "refused", "failed"):
    RELOADS.labels(_result)
for _how in ("runtime", "reload"):
    APPLY_SECONDS.labels(_how)
RELOAD_TIMEOUT = 30.0
RETRY_REFUSED = 30.0
"""Seconds between attempts to serve routes HAProxy refused (or to apply a table after an error)."""
POLL = 1.0
"""Seconds between checks that HAProxy answers when nothing else happens."""
RESYNC = 30.0
"""Seconds between reads of what HAProxy serves, compared with what the agent applied (HAProxy restarted by
itself comes back from the files; anything else that changed it is put right)."""
STUCK = 300.0
"""Seconds the loop may go without a turn before ``/healthz`` fails (the kubelet then restarts the agent alone)."""


class _TableCollector(Collector):
    """The routing table's watch, read from the informer at scrape time."""

    def __init__(self) -> None:
        self.informer: Informer | None = None

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        informer = self.informer
        errors = CounterMetricFamily(
            "kubeception_ingress_agent_table_watch_errors",
            "Lists and watches of the routing table that failed (error) or went silent (silent); each is retried "
            "(resumed, or relisted), errors after a backoff of at most 30 s",
            labels=["reason"],
        )
        errors.add_metric(["error"], informer.errors if informer else 0)
        errors.add_metric(["silent"], informer.watch_restarts if informer else 0)
        yield errors
        yield CounterMetricFamily(
            "kubeception_ingress_agent_table_relists",
            "Full reads of the routing table: at start and when a watch's history expired (410 Gone)",
            value=informer.relists if informer else 0,
        )
        contact = (time.time() - (time.monotonic() - informer.last_activity)) if informer else time.time()
        yield GaugeMetricFamily(
            "kubeception_ingress_agent_table_contact_timestamp_seconds",
            "When the agent last heard from the API server about the routing table (a list, a watch opened, an "
            "event or a bookmark); at start, the agent's start",
            value=contact,
        )


TABLE_WATCH = _TableCollector()
REGISTRY.register(TABLE_WATCH)


class Agent:
    """Keeps a running HAProxy serving the newest routing table. HAProxy is not the agent's child: it runs on its
    own (``python -m ingress_operator.agent.haproxy``, the chart's haproxy container) and outlives the agent; the
    agent drives it through its admin socket (runtime API) and master socket (reloads), and after a restart reads
    back what it serves before changing anything."""

    def __init__(self, settings: AgentSettings, kube: KubeClient) -> None:
        self.settings = settings
        state = settings.state_dir
        state.mkdir(parents=True, exist_ok=True)
        self.runtime = Runtime(state / "admin.sock", state / "master.sock")
        self.running: render.Rendered | None = None
        """What HAProxy serves; None until read back from it (at start, and whenever it stopped answering)."""
        self.failed: dict[str, str] = {}
        self.error: str | None = None
        self.table_error: str | None = None
        self.table = Informer(
            kube,
            CONFIG_MAP,
            namespace=settings.table_namespace,
            field_selector=f"metadata.name={settings.table_name}",
            inactivity_timeout=settings.watch_inactivity_timeout,
            watch_timeout=settings.watch_timeout,
        )
        self.table.add_handler(self)
        TABLE_WATCH.informer = self.table
        self._wanted: tuple[int, Shape, list[Route]] | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._read_at = 0.0
        self._attempted: int | None = None
        self._tried_at = 0.0
        self._failures = 0
        self.beat = time.monotonic()

    # -- the routing table (the informer's handler: LIST+WATCH, relists, backoff are operatorkit's) --------------
    def on_add(self, obj: Object) -> None:
        self._table_changed(obj)

    def on_update(self, old: Object, new: Object) -> None:
        self._table_changed(new)

    def on_delete(self, obj: Object) -> None:
        log.warning("the routing table %s was deleted: HAProxy keeps serving what it serves", obj["metadata"]["name"])

    def _table_changed(self, obj: Object) -> None:
        try:
            table = decode(obj.get("data") or {})
        except (ValueError, KeyError, TypeError) as exc:
            self.table_error = f"the routing table is not readable (still serving the last one): {exc!r}"
            log.error("%s", self.table_error)
            return
        self.table_error = None
        self._wanted = table
        self._wake.set()

    # -- the loop ------------------------------------------------------------------------------------------------
    def run(self) -> int:
        """Until :meth:`stop`: nothing that goes wrong — the API server, HAProxy, a table — ends it."""
        self.table.start()
        try:
            while not self._stopping.is_set():
                self.beat = time.monotonic()
                self._wake.wait(POLL)
                self._wake.clear()
                if not self._stopping.is_set():
                    self.sync()
        finally:
            self.table.stop()
        return 0

    def sync(self) -> None:
        """One turn: HAProxy answers? what does it serve? apply the newest table if it is not served yet."""
        try:
            with self._lock:
                self._sync()
            self._failures = 0
        except Exception as exc:
            # A half-done apply leaves HAProxy's state unknown: read it back on the next turn, after a backoff.
            self.running = None
            self._failures += 1
            delay = min(30.0, 0.5 * 2 ** min(self._failures, 6)) * random.uniform(0.8, 1.2)
            self.error = f"applying the routing table failed: {exc!r}; retrying"
            log.exception("applying the routing table failed; retrying in %.1f s", delay)
            self._stopping.wait(delay)

    def _sync(self) -> None:
        now = time.monotonic()
        if not self.runtime.ready():
            if self.running is not None:
                log.warning("HAProxy does not answer on %s; waiting for it", self.runtime.admin_socket)
            UP.set(0)
            self.running = None
            return
        UP.set(1)
        if self.running is None or now - self._read_at >= RESYNC:
            served = render.learn(self.runtime, self.settings)
            self._read_at = now
            if self.running is None or not served.serves_as(self.running):
                if self.running is None:
                    log.info(
                        "HAProxy serves %d hostnames, %d backends with servers, %d ports: taking it over",
                        sum(len(entries) for entries in served.maps.values()),
                        sum(1 for servers in served.servers.values() if servers),
                        len(served.structure.ports),
                    )
                else:
                    log.warning("HAProxy serves other routes than revision %d (restarted?)", self.running.revision)
                self.running = served
                self._attempted = None  # what HAProxy serves is not what was applied: apply the table again
            APPLIED.set(self.running.revision)
        if self._wanted is None:
            return
        revision, shape, routes = self._wanted
        # A new table at once; one HAProxy refused (in part or whole), or an error, again after RETRY_REFUSED.
        again = (self.failed or self.error) and now - self._tried_at >= RETRY_REFUSED
        if revision != self._attempted or again:
            self._attempted, self._tried_at = revision, now
            self._apply(revision, shape, routes)

    # -- applying a table ----------------------------------------------------------------------------------------
    def _apply(self, revision: int, shape: Shape, routes: list[Route]) -> None:
        assert self.running is not None
        started = time.monotonic()
        self.error = None
        wanted = render.build(revision, shape, routes)
        failed: dict[str, str] = {}
        if wanted.structure == self.running.structure:
            try:
                self._runtime_update(wanted)
            except (Refused, OSError) as exc:
                log.warning("runtime update refused, reloading instead: %s", exc)
                wanted, failed = self._reload(wanted, routes)
            else:
                UPDATES.inc()
                APPLY_SECONDS.labels("runtime").observe(time.monotonic() - started)
        else:
            wanted, failed = self._reload(wanted, routes)
            APPLY_SECONDS.labels("reload").observe(time.monotonic() - started)
        self.failed = failed
        FAILED.set(len(failed))
        ROUTES.set(len(routes) - len(failed))
        self._served(wanted)

    def _served(self, rendered: render.Rendered) -> None:
        self.running = rendered
        APPLIED.set(rendered.revision)
        COMMANDS.inc(self.runtime.commands - COMMANDS._value.get())

    def _runtime_update(self, wanted: render.Rendered) -> None:
        """Files first (a restart reads them), then: take removed names out, set servers, put new names in."""
        assert self.running is not None
        render.write_files(wanted, self.settings)
        old, state = self.running, self.settings.state_dir
        for name in render.MAPS:
            for key in old.maps[name].keys() - wanted.maps[name].keys():
                self.runtime.run(f"del map {state / name} {key}")
        per_backend = wanted.structure.shape.servers_per_backend
        for backend in sorted(old.servers.keys() | wanted.servers.keys()):
            servers = wanted.servers.get(backend, ())
            if old.servers.get(backend, ()) != servers:
                self.runtime.set_servers(backend, servers, per_backend)
        for name in render.MAPS:
            for key, value in wanted.maps[name].items():
                previous = old.maps[name].get(key)
                if previous is None:
                    self.runtime.run(f"add map {state / name} {key} {value}")
                elif previous != value:
                    self.runtime.run(f"set map {state / name} {key} {value}")

    def _reload(self, wanted: render.Rendered, routes: list[Route]) -> tuple[render.Rendered, dict[str, str]]:
        """Check, write, reload. New ports something else on the host holds are left out first (HAProxy would
        refuse the whole configuration); a configuration still refused is retried without any new port, and what
        is refused then leaves the running configuration serving."""
        assert self.running is not None
        running_ports = {port for port, _ in self.running.structure.ports}
        new_ports = {port: backend for port, backend in wanted.structure.ports if port not in running_ports}
        busy = {port: backend for port, backend in new_ports.items() if not self._bindable(port)}
        failed = {backend: f"port {port} is in use on this host" for port, backend in busy.items()}
        if busy:
            wanted = render.build(wanted.revision, wanted.structure.shape, routes, without_ports=frozenset(busy))
            if wanted.structure == self.running.structure:  # nothing else to reload for: the rest at runtime
                try:
                    self._runtime_update(wanted)
                except (Refused, OSError) as exc:
                    log.warning("runtime update refused, reloading instead: %s", exc)
                else:
                    return wanted, failed
        problem = self._try_reload(wanted)
        if problem is None:
            return wanted, failed
        if len(new_ports) > len(busy):
            fallback = render.build(wanted.revision, wanted.structure.shape, routes, without_ports=frozenset(new_ports))
            if self._try_reload(fallback) is None:
                failed.update({backend: f"port {port}: {problem}" for port, backend in new_ports.items()})
                return fallback, failed
        self.error = f"HAProxy refused revision {wanted.revision}; still serving {self.running.revision}: {problem}"
        log.error("%s", self.error)
        changed = {r.backend for r in routes} ^ set(self.running.servers)
        render.write_files(self.running, self.settings)  # a restart must come back with what is served
        return self.running, {backend: problem for backend in changed or {r.backend for r in routes}}

    def _bindable(self, port: int) -> bool:
        host = "" if self.settings.bind_address in ("*", "0.0.0.0") else self.settings.bind_address
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                return False
        return True

    def _try_reload(self, candidate: render.Rendered) -> str | None:
        """None when HAProxy now serves ``candidate``, else why not."""
        text = render.config(candidate, self.settings)
        check_path = self.settings.state_dir / "haproxy.cfg.check"
        check_path.write_text(text)
        check = subprocess.run(
            [self.settings.haproxy, "-c", "-q", "-f", str(check_path)], capture_output=True, text=True, check=False
        )
        if check.returncode != 0:
            RELOADS.labels("refused").inc()
            return f"haproxy -c: {(check.stdout + check.stderr).strip()[-500:]}"
        before = self.runtime.reloads()
        render.write_files(candidate, self.settings)
        self.runtime.reload()
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while time.monotonic() < deadline:
            try:
                after = self.runtime.reloads()
            except OSError:  # the master is re-executing itself
                time.sleep(0.05)
                continue
            if after[1] > before[1]:
                RELOADS.labels("failed").inc()
                return "reload failed: HAProxy did not start with it (its reason is in HAProxy's own log)"
            if after[0] > before[0] and self.runtime.ready():
                RELOADS.labels("success").inc()
                return None
            time.sleep(0.05)
        RELOADS.labels("failed").inc()
        return "reload did not finish within 30 s"

    # -- lifecycle and status ------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ends :meth:`run`; HAProxy is not the agent's and keeps serving."""
        self._stopping.set()
        self._wake.set()

    def alive(self) -> bool:
        """The loop turns (a turn waits at most for one reload; the informer's loop never ends on an error)."""
        return time.monotonic() - self.beat < STUCK

    def status(self) -> dict[str, Any]:
        up = self.runtime.ready()
        UP.set(1 if up else 0)
        running = self.running
        return {
            "revision": running.revision if running and up else render.UNKNOWN_REVISION,
            "failed": self.failed,
            "error": (self.error or self.table_error) if up else "HAProxy does not answer on its admin socket",
            "haproxy": {"up": up},
            "table": {
                "revision": self._wanted[0] if self._wanted else None,
                "watch_errors": self.table.errors,
                "silent_watches": self.table.watch_restarts,
                "relists": self.table.relists,
                "seconds_since_contact": round(time.monotonic() - self.table.last_activity, 1),
            },
        }


def serve_status(agent: Agent, address: str) -> ThreadingHTTPServer:
    """``/status`` (what HAProxy serves, for the operator), ``/metrics``, ``/healthz`` (the agent itself: a
    liveness probe that restarts it costs nothing, HAProxy runs apart), ``/readyz`` (HAProxy answers)."""
    host, _, port = address.rpartition(":")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/status":
                body, kind = json.dumps(agent.status()).encode(), "application/json"
            elif self.path in ("/healthz", "/readyz"):
                ok = agent.alive() if self.path == "/healthz" else agent.runtime.ready()
                why = b"agent loop stuck" if self.path == "/healthz" else b"haproxy down"
                self._send(200 if ok else 503, b"ok" if ok else why, "text/plain")
                return
            elif self.path == "/metrics":
                body, kind = prometheus_client.generate_latest(REGISTRY), prometheus_client.CONTENT_TYPE_LATEST
            else:
                self._send(404, b"not found", "text/plain")
                return
            self._send(200, body, kind)

        def _send(self, code: int, body: bytes, kind: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), Handler)
    threading.Thread(target=server.serve_forever, name="status", daemon=True).start()
    return server
