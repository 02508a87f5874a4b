"""The routing table: every route of every cluster, published as one ConfigMap that every HAProxy agent renders.

Reconciles change the table in memory; one publisher thread writes it at most every ``publish_interval``, so a
thousand route changes in a burst are a handful of writes. Each change gets a revision; a route is served once
every agent reports that revision applied (:mod:`ingress_operator.agents`). The ConfigMap is the operator's own
(managed-by label): one it does not own is never overwritten.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ingress_operator import key
from operatorkit import MANAGED_BY_LABEL, ApiError
from operatorkit.kinds import CONFIG_MAP

if TYPE_CHECKING:
    from ingress_operator.key import Mode
    from ingress_operator.settings import IngressSettings
    from operatorkit import KubeClient, Object

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    """One HAProxy route: a backend slot, the names that lead to it, an optional port of its own, its servers."""

    backend: str
    cluster: str
    mode: Mode
    hostnames: tuple[str, ...]
    port: int | None
    servers: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Shape:
    """What every agent renders besides routes: backend slots per mode and servers per backend."""

    tls_backends: int
    http_backends: int
    servers_per_backend: int


def encode(revision: int, shape: Shape, routes: list[Route]) -> dict[str, str]:
    body = {"shape": asdict(shape), "routes": [asdict(route) for route in sorted(routes, key=lambda r: r.backend)]}
    return {"revision": str(revision), "table.json": json.dumps(body, separators=(",", ":"))}


def decode(data: dict[str, str]) -> tuple[int, Shape, list[Route]]:
    """The table a ConfigMap holds (raises ValueError or KeyError when it is not one)."""
    body = json.loads(data["table.json"])
    routes = [
        Route(
            r["backend"],
            r["cluster"],
            r["mode"],
            tuple(r["hostnames"]),
            r["port"],
            tuple((str(a), int(p)) for a, p in r["servers"]),
        )
        for r in body["routes"]
    ]
    return int(data["revision"]), Shape(**body["shape"]), routes


def rounded(count: int, block: int) -> int:
    """Backends rendered for ``count`` used slots: whole blocks with at least one free block's worth ahead."""
    return (count // block + 1) * block


class TableNotOwned(Exception):
    """The table's ConfigMap exists and is not this operator's."""


class RoutingTable:
    def __init__(self, kube: KubeClient, settings: IngressSettings) -> None:
        self._kube = kube
        self._namespace, self._name = settings.table.namespace, settings.table.name
        self._interval = settings.table.publish_interval
        self._block = settings.haproxy.backend_block
        self._servers = settings.haproxy.servers_per_backend
        self._lock = threading.Condition()
        self._routes: dict[str, list[Route]] = {}  # cluster → its routes
        self._changed_at: dict[str, int] = {}  # cluster → revision of its last change
        self._revision = 0
        self._published = 0
        self._resource_version: str | None = None
        self._floor = Shape(0, 0, self._servers)  # rendered slots never shrink: a removal must not cost a reload
        self.error: str | None = None
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what reconciles use -------------------------------------------------------------------------------
    def load(self, existing_clusters: set[str]) -> None:
        """Start from the published table (its revision and the routes of clusters that still exist), so agents
        never see routes vanish and come back while the operator starts."""
        obj = self._kube.get_or_none(CONFIG_MAP, self._name, self._namespace)
        if obj is None:
            # No table yet: publish the empty one at once, so agents render its backend slots before the first
            # cluster arrives (then even that one is a runtime update, not a reload).
            with self._lock:
                self._revision = 1
            return
        self._check_owned(obj)
        try:
            revision, shape, routes = decode(obj.get("data") or {})
        except (ValueError, KeyError, TypeError) as exc:
            log.warning(
                "routing table %s/%s unreadable (%s): rebuilt from IngressConfigs", self._namespace, self._name, exc
            )
            revision, shape, routes = 0, self._floor, []
        with self._lock:
            if shape.servers_per_backend == self._servers:
                self._floor = shape
            self._revision = self._published = revision
            self._resource_version = obj["metadata"]["resourceVersion"]
            for route in routes:
                if route.cluster in existing_clusters:
                    self._routes.setdefault(route.cluster, []).append(route)

    def set_routes(self, cluster: str, routes: list[Route]) -> int:
        """Make ``routes`` the cluster's routes; returns the revision that holds them."""
        with self._lock:
            if sorted(self._routes.get(cluster, []), key=lambda r: r.backend) == sorted(
                routes, key=lambda r: r.backend
            ):
                return self._changed_at.get(cluster, self._published)
            if routes:
                self._routes[cluster] = list(routes)
            else:
                self._routes.pop(cluster, None)
            self._revision += 1
            self._changed_at[cluster] = self._revision
            self._lock.notify_all()
            return self._revision

    def remove(self, cluster: str) -> int:
        return self.set_routes(cluster, [])

    def routes_of(self, cluster: str) -> list[Route]:
        with self._lock:
            return list(self._routes.get(cluster, []))

    @property
    def published(self) -> int:
        with self._lock:
            return self._published

    def count(self) -> int:
        with self._lock:
            return sum(len(routes) for routes in self._routes.values())

    def shape(self) -> Shape:
        with self._lock:
            return self._shape()

    # -- the publisher -------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="routing-table", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stopped.is_set():
            with self._lock:
                while self._revision == self._published and not self._stopped.is_set():
                    self._lock.wait()
                revision, shape = self._revision, self._shape()
                routes = [route for routes in self._routes.values() for route in routes]
            if self._stopped.is_set():
                return
            try:
                self._write(encode(revision, shape, routes))
            except Exception as exc:
                self.error = f"routing table {self._namespace}/{self._name} not written: {exc}"
                log.warning("%s", self.error)
                self._stopped.wait(1.0)
                continue
            self.error = None
            with self._lock:
                self._published = revision
                self._lock.notify_all()
            self._stopped.wait(self._interval)

    def _shape(self) -> Shape:
        """Backend slots to render: whole blocks ahead of the highest slot in use, never fewer than rendered before
        (agents would reload to drop empty slots)."""
        used: dict[str, int] = {"tls": 0, "http": 0}
        for routes in self._routes.values():
            for route in routes:
                mode, slot = key.parse_backend(route.backend)
                used[mode] = max(used[mode], slot + 1)
        self._floor = Shape(
            max(self._floor.tls_backends, rounded(used["tls"], self._block)),
            max(self._floor.http_backends, rounded(used["http"], self._block)),
            self._servers,
        )
        return self._floor

    def _write(self, data: dict[str, str]) -> None:
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": self._name, "namespace": self._namespace, "labels": key.table_labels()},
            "data": data,
        }
        if self._resource_version is None:
            try:
                created = self._kube.create(CONFIG_MAP, body)
            except ApiError as exc:
                if not exc.already_exists:
                    raise
                existing = self._kube.get(CONFIG_MAP, self._name, self._namespace)
                self._check_owned(existing)
                self._resource_version = existing["metadata"]["resourceVersion"]
                raise
            self._resource_version = created["metadata"]["resourceVersion"]
            return
        body["metadata"]["resourceVersion"] = self._resource_version
        try:
            replaced = self._kube.replace(CONFIG_MAP, body)
        except ApiError as exc:
            if exc.conflict or exc.not_found:  # written or deleted by someone else: look again before writing
                current = self._kube.get_or_none(CONFIG_MAP, self._name, self._namespace)
                if current is not None:
                    self._check_owned(current)
                self._resource_version = None if current is None else current["metadata"]["resourceVersion"]
            raise
        self._resource_version = replaced["metadata"]["resourceVersion"]

    def _check_owned(self, obj: Object) -> None:
        manager = obj["metadata"].get("labels", {}).get(MANAGED_BY_LABEL)
        if manager != key.MANAGER:
            raise TableNotOwned(
                f"ConfigMap {self._namespace}/{self._name} is not the ingress-operator's (managed-by: {manager}); "
                "it is left untouched"
            )
