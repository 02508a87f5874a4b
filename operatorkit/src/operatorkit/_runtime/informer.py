"""LIST + WATCH into a local cache, shared by every controller that needs a kind.

Watches resume from the last seen resourceVersion (bookmarks keep it fresh); 410 Gone triggers a relist that
reconciles the cache with the server, including deletions missed while away; a watch that stays silent past the
inactivity timeout (no event, no bookmark) is torn down and resumed, and :meth:`Informer.stalled` tells the
health probe when the informer has not heard from the server for too long.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

import urllib3

from operatorkit._base.client import ApiError
from operatorkit._core.cache import object_key
from operatorkit._runtime.store import Store, is_newer

if TYPE_CHECKING:
    from operatorkit._base.client import KubeClient, Object
    from operatorkit.kinds import Kind

log = logging.getLogger(__name__)


class EventHandler(Protocol):
    def on_add(self, obj: Object) -> None: ...
    def on_update(self, old: Object, new: Object) -> None: ...
    def on_delete(self, obj: Object) -> None: ...


class _Gone(Exception):
    """The watch's resourceVersion is too old (410): relist."""


class Informer:
    """One LIST+WATCH loop for a kind (optionally a namespace and selectors) feeding a :class:`Store`."""

    def __init__(
        self,
        client: KubeClient,
        kind: Kind,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        inactivity_timeout: float = 180.0,
        watch_timeout: int = 300,
        page_size: int = 500,
    ) -> None:
        self.client = client
        self.kind = kind
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.inactivity_timeout = inactivity_timeout
        self.watch_timeout = watch_timeout
        self.page_size = page_size
        self.store = Store()
        self.synced = threading.Event()
        self.resource_version: str | None = None
        self.last_activity = time.monotonic()
        self.relists = 0
        self.watch_restarts = 0
        self.errors = 0
        """Lists and watches that failed (each followed by a capped backoff); ``watch_restarts`` counts silent ones."""
        self._handlers: list[EventHandler] = []
        self._stop = threading.Event()
        self._stream_lock = threading.Lock()
        self._stream: Any = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"Informer({self.kind}, namespace={self.namespace}, selector={self.label_selector})"

    def remember(self, obj: Object, writer: object) -> None:
        """Write-through of ``writer``'s own write: cache ``obj`` unless a newer version is cached, and tell every
        other party at once. The watch echo of this version is then skipped, so ``writer`` is not woken by its
        own write while other controllers sharing this informer still see the change."""
        old = self.store.get(object_key(obj))
        if not self.store.remember(obj):
            return
        for handler in self._handlers:
            if getattr(handler, "owner", None) is writer:
                continue
            try:
                if old is None:
                    handler.on_add(obj)
                else:
                    handler.on_update(old, obj)
            except Exception:
                log.exception("event handler failed for %s %s", self.kind, object_key(obj))

    def add_handler(self, handler: EventHandler) -> None:
        """Register a handler; objects already cached are replayed to it as adds."""
        self._handlers.append(handler)
        for obj in self.store.objects():
            handler.on_add(obj)

    def start(self) -> None:
        """Start (or restart after :meth:`stop`: the watch resumes from the last resourceVersion seen)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"informer-{self.kind.plural}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._stream_lock:
            if self._stream is not None:
                self._stream.close()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_synced(self, timeout: float | None = None) -> bool:
        return self.synced.wait(timeout)

    def stalled(self) -> bool:
        """True when the server has not been heard from for twice the inactivity timeout."""
        return time.monotonic() - self.last_activity > 2 * self.inactivity_timeout

    # -- the loop --------------------------------------------------------------------------------------------
    def _run(self) -> None:
        failures = 0
        need_list = self.resource_version is None
        while not self._stop.is_set():
            try:
                if need_list:
                    self._list()
                    need_list = False
                self._watch()
                failures = 0
            except _Gone:
                log.info("watch of %s expired (410 Gone); relisting", self.kind)
                need_list = True
            except urllib3.exceptions.ReadTimeoutError:
                self.watch_restarts += 1
                log.warning("watch of %s silent for %.0f s; restarting it", self.kind, self.inactivity_timeout)
            except Exception as exc:
                # What a broken, refused or timed-out list or watch raises: ApiError, urllib3's HTTPError
                # (ReadTimeoutError, ProtocolError, NewConnectionError, SSLError — none is an OSError), OSError,
                # ValueError (a body that is not JSON). Anything else is a bug, logged with its traceback; the loop
                # never ends on an error, whatever it is.
                if self._stop.is_set():
                    return
                if isinstance(exc, ApiError) and exc.gone:
                    need_list = True
                    continue
                self.errors += 1
                failures += 1
                delay = min(30.0, 0.2 * 2 ** min(failures, 8)) * random.uniform(0.8, 1.2)
                expected = isinstance(exc, ApiError | urllib3.exceptions.HTTPError | OSError | ValueError)
                log.log(
                    logging.WARNING if expected else logging.ERROR,
                    "%s informer error (%s); retrying in %.1f s",
                    self.kind,
                    exc,
                    delay,
                    exc_info=not expected,
                )
                self._stop.wait(delay)

    def _list(self) -> None:
        items: list[Object] = []
        token: str | None = None
        while True:
            page = self.client.list(
                self.kind,
                self.namespace,
                label_selector=self.label_selector,
                field_selector=self.field_selector,
                limit=self.page_size,
                continue_token=token,
            )
            api_version, kind = page.get("apiVersion"), page.get("kind", "").removesuffix("List")
            for item in page.get("items", []):
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
                items.append(item)
            token = page.get("metadata", {}).get("continue")
            if not token:
                break
        self.resource_version = page["metadata"]["resourceVersion"]
        self.last_activity = time.monotonic()
        self._replace(items)
        self.relists += 1
        self.synced.set()

    def _replace(self, items: list[Object]) -> None:
        fresh = {object_key(item) for item in items}
        for key in self.store.all_keys():
            if key not in fresh and (gone := self.store.delete(key)) is not None:
                self._dispatch("DELETED", gone, None)
        for item in items:
            old = self.store.upsert(item)
            if old is None:
                self._dispatch("ADDED", item, None)
            elif old["metadata"].get("resourceVersion") != item["metadata"].get("resourceVersion"):
                self._dispatch("MODIFIED", item, old)

    def _watch(self) -> None:
        # Spread reconnects like client-go: a timeout between 1x and 2x the configured one.
        timeout = int(self.watch_timeout * random.uniform(1.0, 2.0))
        stream = self.client.watch(
            self.kind,
            self.namespace,
            resource_version=self.resource_version,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            timeout_seconds=timeout,
            inactivity_timeout=self.inactivity_timeout,
        )
        with self._stream_lock:
            if self._stop.is_set():
                stream.close()
                return
            self._stream = stream
        self.last_activity = time.monotonic()
        try:
            for event in stream:
                self.last_activity = time.monotonic()
                self._handle(event)
        finally:
            with self._stream_lock:
                self._stream = None

    def _handle(self, event: Object) -> None:
        kind, obj = event.get("type"), event.get("object", {})
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Gone
            raise ApiError(int(obj.get("code", 500)), obj)
        self.resource_version = obj["metadata"]["resourceVersion"]
        if kind == "BOOKMARK":
            return
        if kind == "DELETED":
            old = self.store.delete(object_key(obj))
            self._dispatch("DELETED", old or obj, None)
            return
        current = self.store.get(object_key(obj))
        if current is not None and not is_newer(obj, current):
            return  # our own write, already in the cache (write-through), or a stale echo
        old = self.store.upsert(obj)
        self._dispatch("ADDED" if old is None else "MODIFIED", obj, old)

    def _dispatch(self, kind: str, obj: Object, old: Object | None) -> None:
        for handler in self._handlers:
            try:
                if kind == "ADDED":
                    handler.on_add(obj)
                elif kind == "MODIFIED" and old is not None:
                    handler.on_update(old, obj)
                else:
                    handler.on_delete(obj)
            except Exception:
                log.exception("event handler failed for %s %s", self.kind, object_key(obj))
