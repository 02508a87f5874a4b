"""The agent loop: the table's ConfigMap in, HAProxy's routes out (see the package docstring)."""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol

import prometheus_client

from ingress_operator.agent import render
from ingress_operator.agent.runtime import Refused, Runtime
from ingress_operator.table import Route, Shape, decode
from operatorkit import ApiError, KubeClient
from operatorkit.kinds import CONFIG_MAP

if TYPE_CHECKING:
    from ingress_operator.agent.settings import AgentSettings


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
"""Seconds between attempts to serve routes HAProxy refused."""


class _Closable(Protocol):
    def close(self) -> None: ...


class Agent:
    def __init__(self, settings: AgentSettings, kube: KubeClient) -> None:
        self.settings = settings
        self.kube = kube
        state = settings.state_dir
        state.mkdir(parents=True, exist_ok=True)
        self.runtime = Runtime(state / "admin.sock", state / "master.sock")
        self.running: render.Rendered | None = None  # what HAProxy serves
        self.failed: dict[str, str] = {}
        self.error: str | None = None
        self.haproxy: subprocess.Popen[str] | None = None
        self._log: collections.deque[str] = collections.deque(maxlen=200)
        self._stopping = threading.Event()
        self._commands_counted = 0
        self._stream: _Closable | None = None
        self._apply_lock = threading.Lock()
        self._last_table: tuple[int, Shape, list[Route]] | None = None

    # -- HAProxy -------------------------------------------------------------------------------------------
    def start_haproxy(self, rendered: render.Rendered) -> None:
        render.write_files(rendered, self.settings)
        config = self.settings.state_dir / "haproxy.cfg"
        self.haproxy = subprocess.Popen(
            [self.settings.haproxy, "-W", "-db", "-S", f"{self.runtime.master_socket},mode,600", "-f", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._pump, name="haproxy-log", daemon=True).start()
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while not self.runtime.ready():
            if self.haproxy.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"haproxy did not start: {self.haproxy_log()}")
            time.sleep(0.05)
        self.running = rendered
        self._served(rendered)

    def _pump(self) -> None:
        assert self.haproxy is not None
        assert self.haproxy.stdout is not None
        for line in self.haproxy.stdout:
            self._log.append(line.rstrip())
            log.info("haproxy: %s", line.rstrip())

    def haproxy_log(self, alerts_only: bool = False) -> str:
        lines = [line for line in self._log if not alerts_only or "[ALERT]" in line]
        return " | ".join(lines[-5:])

    # -- applying a table ----------------------------------------------------------------------------------
    def apply(self, revision: int, shape: Shape, routes: list[Route]) -> None:
        with self._apply_lock:
            self._last_table = (revision, shape, routes)
            self._apply(revision, shape, routes)

    def _apply(self, revision: int, shape: Shape, routes: list[Route]) -> None:
        assert self.running is not None
        started = time.monotonic()
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
                return f"reload failed: {self.haproxy_log(alerts_only=True) or 'see the HAProxy log'}"
            if after[0] > before[0] and self.runtime.ready():
                RELOADS.labels("success").inc()
                self.error = None
                return None
            time.sleep(0.05)
        RELOADS.labels("failed").inc()
        return "reload did not finish within 30 s"

    # -- the table -----------------------------------------------------------------------------------------
    def read_table(self) -> tuple[int, Shape, list[Route], str] | None:
        obj = self.kube.get_or_none(CONFIG_MAP, self.settings.table_name, self.settings.table_namespace)
        if obj is None:
            return None
        revision, shape, routes = decode(obj.get("data") or {})
        return revision, shape, routes, obj["metadata"]["resourceVersion"]

    def run(self) -> int:
        first = self._first_table()
        self.start_haproxy(render.build(*first[:3]) if first else render.build(0, render.EMPTY, []))
        version = first[3] if first else None
        threading.Thread(target=self._watch_haproxy, name="haproxy-watch", daemon=True).start()
        threading.Thread(target=self._retry_refused, name="retry-refused", daemon=True).start()
        while not self._stopping.is_set():
            try:
                version = self._follow(version)
            except (ApiError, OSError, ValueError, KeyError) as exc:
                if isinstance(exc, ApiError) and exc.gone:
                    version = None
                log.warning("routing table watch: %s", exc)
                self._stopping.wait(1.0)
        return 0 if self.haproxy is None or self.haproxy.poll() in (None, 0) else 1

    def _first_table(self) -> tuple[int, Shape, list[Route], str] | None:
        try:
            return self.read_table()
        except (ApiError, OSError, ValueError, KeyError) as exc:
            log.warning("routing table not readable (%s): starting with what was served before", exc)
            persisted = self.settings.state_dir / "haproxy.cfg"
            if persisted.exists():
                self.error = f"routing table not readable: {exc}"
            return None

    def _follow(self, version: str | None) -> str | None:
        """Apply the table as of now, then every change the watch brings; returns the last resourceVersion."""
        if version is None:
            table = self.read_table()
            if table is not None:
                self._apply_if_new(*table[:3])
                version = table[3]
        stream = self.kube.watch(
            CONFIG_MAP,
            self.settings.table_namespace,
            resource_version=version,
            field_selector=f"metadata.name={self.settings.table_name}",
            timeout_seconds=300,
        )
        self._stream = stream
        if self._stopping.is_set():
            stream.close()
        for event in stream:
            if self._stopping.is_set():
                break
            obj = event["object"]
            if event["type"] == "ERROR":
                raise ApiError(int(obj.get("code", 500)), obj)
            version = obj["metadata"]["resourceVersion"]
            if event["type"] in ("ADDED", "MODIFIED"):
                self._apply_if_new(*decode(obj.get("data") or {}))
        return version

    def _apply_if_new(self, revision: int, shape: Shape, routes: list[Route]) -> None:
        assert self.running is not None
        if revision != self.running.revision or self.error:
            self.apply(revision, shape, routes)

    def _retry_refused(self) -> None:
        """Routes HAProxy refused (a port something else held) are tried again: the port may be free now."""
        while not self._stopping.wait(RETRY_REFUSED):
            if self.failed and self._last_table is not None:
                log.info("retrying %d refused routes", len(self.failed))
                self.apply(*self._last_table)

    def _watch_haproxy(self) -> None:
        assert self.haproxy is not None
        code = self.haproxy.wait()
        UP.set(0)
        log.error("haproxy exited with %s: %s", code, self.haproxy_log())
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        if self._stream is not None:
            with contextlib.suppress(Exception):  # unblocks the watch; whatever state the stream is in
                self._stream.close()

    def shutdown(self) -> None:
        self.stop()
        if self.haproxy is not None and self.haproxy.poll() is None:
            self.haproxy.terminate()  # SIGTERM to the master: workers stop, connections close
            try:
                self.haproxy.wait(10)
            except subprocess.TimeoutExpired:
                self.haproxy.kill()

    # -- status --------------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        up = self.runtime.ready()
        UP.set(1 if up else 0)
        return {
            "revision": self.running.revision if self.running else -1,
            "failed": self.failed,
            "error": self.error if up else "HAProxy does not answer on its admin socket",
            "haproxy": {"up": up},
        }


def serve_status(agent: Agent, address: str) -> ThreadingHTTPServer:
    host, _, port = address.rpartition(":")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/status":
                body, kind = json.dumps(agent.status()).encode(), "application/json"
            elif self.path == "/healthz":
                up = agent.runtime.ready()
                body, kind = (b"ok" if up else b"haproxy down"), "text/plain"
                if not up:
                    self._send(503, body, kind)
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
