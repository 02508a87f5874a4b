"""A thin JSON client: one urllib3 connection pool to the API server, orjson for the bodies.

Objects stay plain dicts (as kopf keeps them): no model (de)serialisation on the hot path. Transient failures —
429 (honouring Retry-After), 5xx and connection errors — are retried with tenacity; everything else surfaces as
:class:`ApiError` with the server's reason and message. Where the server is and who we are comes from
:mod:`operatorkit._base.kubeconfig`.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import random
import threading
import urllib.parse
from typing import TYPE_CHECKING, Any, Literal

import orjson
import tenacity
import urllib3

from operatorkit._base import kubeconfig, metrics

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from operatorkit.kinds import Kind

log = logging.getLogger(__name__)

Object = dict[str, Any]
PatchType = Literal["merge", "json", "strategic", "apply"]
_CONTENT_TYPES: dict[PatchType, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}
_MAX_RETRY_AFTER = 30.0


class ApiError(Exception):
    """A non-2xx answer from the API server, with its Status ``reason`` and ``message``."""

    def __init__(self, status: int, body: Mapping[str, Any] | None, retry_after: float | None = None) -> None:
        self.status = status
        self.body: Mapping[str, Any] = body or {}
        self.reason: str = str(self.body.get("reason", ""))
        self.message: str = str(self.body.get("message", "")) or f"HTTP {status}"
        self.retry_after = retry_after
        super().__init__(f"{status} {self.reason}: {self.message}")

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        """Optimistic-concurrency conflict (stale resourceVersion) or AlreadyExists."""
        return self.status == 409

    @property
    def already_exists(self) -> bool:
        return self.status == 409 and self.reason == "AlreadyExists"

    @property
    def gone(self) -> bool:
        return self.status == 410

    @property
    def transient(self) -> bool:
        return self.status == 429 or (self.status >= 500 and self.status != 501)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, ApiError):
        return exc.transient
    return isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError)


def _wait(state: tenacity.RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, ApiError) and exc.retry_after is not None:
        # Up to half as long again: clients rejected together should not all come back together.
        return min(exc.retry_after * random.uniform(1.0, 1.5), _MAX_RETRY_AFTER)
    backoff: float = tenacity.wait_random_exponential(multiplier=0.1, max=5)(state)
    return backoff


def _retry_after(headers: Mapping[str, str]) -> float | None:
    try:
        return float(headers["Retry-After"])
    except (KeyError, ValueError):
        return None


class KubeClient:
    """Talks to one API server. Thread-safe: the urllib3 pool is shared by informers and workers."""

    def __init__(
        self, connection: kubeconfig.Connection, *, retry_attempts: int = 6, retry_deadline: float = 60.0
    ) -> None:
        self.host = connection.host
        split = urllib.parse.urlsplit(self.host)
        self._host_label, self._prefix = split.netloc, split.path.rstrip("/")
        # One API server, one connection pool: requests go to it directly, not through a PoolManager, which
        # would parse and normalise every URL again (a sixth of the client's CPU, measured in bench/).
        self._pool = connection.pool
        self._token = connection.token
        self._impersonate: tuple[tuple[str, str], ...] = ()
        self._timeouts: dict[float, urllib3.Timeout] = {}
        self._counters: dict[tuple[str, str], Any] = {}
        self._retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_retryable),
            wait=_wait,
            stop=tenacity.stop_after_attempt(retry_attempts) | tenacity.stop_after_delay(retry_deadline),
            before_sleep=lambda s: log.info(
                "retrying after transient API error: %s", s.outcome.exception() if s.outcome else None
            ),
            reraise=True,
        )

    @classmethod
    def load(
        cls,
        path: str | None = None,
        context: str | None = None,
        *,
        max_connections: int = 64,
        retry_attempts: int = 6,
        retry_deadline: float = 60.0,
    ) -> KubeClient:
        """The pod's service account when running in a pod (and no kubeconfig is given), else the kubeconfig.
        A client of a server that may be down for long (another cluster's API) retries less: one attempt fails at
        once, and the caller's own requeue is the retry."""
        if path is None and (connection := kubeconfig.in_cluster(max_connections)) is not None:
            return cls(connection, retry_attempts=retry_attempts, retry_deadline=retry_deadline)
        connection = kubeconfig.from_kubeconfig(path, context, max_connections) or kubeconfig.with_kubernetes_package(
            path, context, max_connections
        )
        return cls(connection, retry_attempts=retry_attempts, retry_deadline=retry_deadline)

    def impersonating(self, user: str, groups: tuple[str, ...] = ()) -> KubeClient:
        """This client acting as ``user`` in ``groups`` (Kubernetes impersonation: the API server authorizes each
        request as them, once it has allowed this client's own identity to impersonate them); the connection pool
        is shared."""
        twin = copy.copy(self)
        twin._impersonate = (("Impersonate-User", user), *(("Impersonate-Group", group) for group in groups))
        return twin

    # -- raw requests ----------------------------------------------------------------------------------------
    def _headers(self, content_type: str | None) -> Mapping[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "operatorkit"}
        if content_type:
            headers["Content-Type"] = content_type
        if self._token is not None and (token := self._token()):
            headers["Authorization"] = f"Bearer {token}"
        if not self._impersonate:
            return headers
        repeated = urllib3.HTTPHeaderDict(headers)  # one Impersonate-Group line per group
        for name, value in self._impersonate:
            repeated.add(name, value)
        return repeated

    def _url(self, path: str, query: Mapping[str, Any] | None) -> str:
        """The request target on the API server: path and query (the pool knows the host)."""
        params = {k: v for k, v in (query or {}).items() if v is not None}
        return f"{self._prefix}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")

    def _timeout(self, read: float) -> urllib3.Timeout:
        if (timeout := self._timeouts.get(read)) is None:
            timeout = self._timeouts[read] = urllib3.Timeout(connect=10, read=read)
        return timeout

    def _count(self, code: str, method: str) -> None:
        if (counter := self._counters.get((code, method))) is None:
            counter = self._counters[(code, method)] = metrics.rest_client_requests_total.labels(
                code, method, self._host_label
            )
        counter.inc()

    def _send(
        self, method: str, url: str, body: bytes | None, content_type: str | None, timeout: urllib3.Timeout
    ) -> Any:
        try:
            response = self._pool.urlopen(
                method,
                url,
                body=body,
                headers=self._headers(content_type),
                timeout=timeout,
                retries=False,
                redirect=False,
                assert_same_host=False,
            )
        except urllib3.exceptions.HTTPError:
            self._count("<error>", method)
            raise
        self._count(str(response.status), method)
        data = response.data
        try:
            decoded = orjson.loads(data) if data else {}
        except ValueError:
            decoded = {"message": data[:500].decode(errors="replace")}
        if response.status >= 400:
            raise ApiError(response.status, decoded, _retry_after(response.headers))
        return decoded

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = 30.0,
        retry: bool = True,
    ) -> Any:
        """One API call; the decoded JSON answer. Transient errors are retried unless ``retry=False``."""
        payload = orjson.dumps(body) if body is not None else None
        url = self._url(path, query)
        limit = self._timeout(timeout)
        content = content_type if payload else None
        try:  # the common case without the retry machinery: it costs more CPU than the call itself
            return self._send(method, url, payload, content, limit)
        except (ApiError, urllib3.exceptions.HTTPError, ConnectionError) as exc:
            if not retry or not _retryable(exc):
                raise
            log.info("retrying after transient API error: %s", exc)
        return self._retrying(self._send, method, url, payload, content, limit)

    # -- typed verbs ---------------------------------------------------------------------------------------
    def get(self, kind: Kind, name: str, namespace: str | None = None) -> Object:
        result: Object = self.request("GET", kind.path(namespace, name))
        return result

    def get_or_none(self, kind: Kind, name: str, namespace: str | None = None) -> Object | None:
        try:
            return self.get(kind, name, namespace)
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    def list(
        self,
        kind: Kind,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> Object:
        query = {
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "limit": limit,
            "continue": continue_token,
        }
        result: Object = self.request("GET", kind.path(namespace), query=query, timeout=120)
        return result

    def create(
        self,
        kind: Kind,
        obj: Mapping[str, Any],
        namespace: str | None = None,
        *,
        field_manager: str | None = None,
        dry_run: bool = False,
    ) -> Object:
        """``dry_run``: validated and admitted as if created, nothing stored (see :meth:`patch`)."""
        namespace = namespace or obj.get("metadata", {}).get("namespace")
        body = {"apiVersion": kind.api_version, "kind": kind.kind, **obj}
        query = {"fieldManager": field_manager, "dryRun": "All" if dry_run else None}
        result: Object = self.request("POST", kind.path(namespace), query=query, body=body)
        return result

    def replace(self, kind: Kind, obj: Mapping[str, Any], subresource: str | None = None) -> Object:
        meta = obj["metadata"]
        result: Object = self.request("PUT", kind.path(meta.get("namespace"), meta["name"], subresource), body=obj)
        return result

    def patch(
        self,
        kind: Kind,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: PatchType = "merge",
        subresource: str | None = None,
        field_manager: str | None = None,
        force: bool | None = None,
        dry_run: bool = False,
    ) -> Object:
        """``dry_run``: the API server validates and admits the patch (webhooks and policies included) and answers
        with the object it would store, storing nothing."""
        query = {
            "fieldManager": field_manager,
            "force": None if force is None else str(force).lower(),
            "dryRun": "All" if dry_run else None,
        }
        result: Object = self.request(
            "PATCH",
            kind.path(namespace, name, subresource),
            query=query,
            body=patch,
            content_type=_CONTENT_TYPES[patch_type],
        )
        return result

    def apply(
        self,
        kind: Kind,
        obj: Mapping[str, Any],
        *,
        field_manager: str,
        force: bool = True,
        subresource: str | None = None,
    ) -> Object:
        """Server-side apply: the fields in ``obj`` become owned by ``field_manager``."""
        meta = obj["metadata"]
        body = {"apiVersion": kind.api_version, "kind": kind.kind, **obj}
        return self.patch(
            kind,
            meta["name"],
            body,
            meta.get("namespace"),
            patch_type="apply",
            subresource=subresource,
            field_manager=field_manager,
            force=force,
        )

    def delete(
        self,
        kind: Kind,
        name: str,
        namespace: str | None = None,
        *,
        propagation: Literal["Background", "Foreground", "Orphan"] = "Background",
        uid: str | None = None,
    ) -> bool:
        """Delete; False when it was already gone. ``uid`` guards against deleting a same-named successor."""
        body: Object = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            self.request("DELETE", kind.path(namespace, name), body=body)
        except ApiError as exc:
            if exc.not_found:
                return False
            raise
        return True

    def watch(
        self,
        kind: Kind,
        namespace: str | None = None,
        *,
        resource_version: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int = 300,
        inactivity_timeout: float = 120.0,
    ) -> WatchStream:
        """Open a watch with bookmarks; raises :class:`ApiError` (410 Gone included) if the server refuses."""
        query = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": resource_version,
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "timeoutSeconds": timeout_seconds,
        }
        url = self._url(kind.path(namespace), query)
        try:
            response = self._pool.urlopen(
                "GET",
                url,
                headers=self._headers(None),
                preload_content=False,
                retries=False,
                redirect=False,
                assert_same_host=False,
                timeout=self._timeout(inactivity_timeout),
            )
        except urllib3.exceptions.HTTPError:
            self._count("<error>", "WATCH")
            raise
        self._count(str(response.status), "WATCH")
        if response.status != 200:
            data = response.read()
            response.release_conn()
            try:
                body = orjson.loads(data)
            except ValueError:
                body = {"message": data[:500].decode(errors="replace")}
            raise ApiError(response.status, body, _retry_after(response.headers))
        return WatchStream(response)


class WatchStream:
    """The events of one watch connection. A read timeout means the watch went silent (no event, no bookmark).

    The thread that iterates owns the response: another thread's :meth:`close` only shuts the socket to wake it,
    and the reader closes the response as it leaves. Two threads closing one urllib3 response race inside
    ``http.client`` and ``io.IOBase`` ("I/O operation on closed file", a ``None`` file object): a stopping informer
    failed its caller that way, once, on a loaded CI machine.
    """

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self._response = response
        self._lock = threading.Lock()
        self._reading = False
        self._closed = False

    def __iter__(self) -> Iterator[Object]:
        with self._lock:
            if self._closed:
                return
            self._reading = True
        buffer = b""
        try:
            for chunk in self._response.stream(64 * 1024, decode_content=True):
                buffer += chunk
                while (end := buffer.find(b"\n")) >= 0:
                    line, buffer = buffer[:end], buffer[end + 1 :]
                    if line.strip():
                        yield orjson.loads(line)
        finally:
            with self._lock:
                self._reading = False
            self.close()

    def close(self) -> None:
        """Close the connection; from another thread while one reads, only wake the reader, which then closes it."""
        with self._lock:
            if self._closed:
                return
            self._closed = owner = not self._reading
        shutdown = getattr(self._response, "shutdown", None)
        if shutdown is not None:
            # Already closed or released by the reader (ValueError, RuntimeError, TypeError, OSError): nothing to wake.
            with contextlib.suppress(RuntimeError, ValueError, TypeError, OSError):
                shutdown()
        if owner:
            self._response.close()
