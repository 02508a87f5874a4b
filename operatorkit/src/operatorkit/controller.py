"""A controller: one primary kind, an ordered list of resources, a work queue and its workers.

One reconcile: read the object from the cache → skip if paused → validate the spec (a bad spec is a condition,
never a crash) → add the finalizer (resourceVersion-guarded) before the first create → run every resource's
``ensure_created`` in order; or, when the object is being deleted, every ``ensure_deleted`` in reverse order and
then remove the finalizer. Conditions and ``observedGeneration`` are written through the status subresource,
and only when they changed.
"""

from __future__ import annotations

import copy
import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic

import pydantic

from operatorkit import metrics
from operatorkit.client import ApiError
from operatorkit.context import OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL, Context, SpecT
from operatorkit.informer import object_key as _key
from operatorkit.logs import reconcile_scope
from operatorkit.signals import CancelReconcile, ReconcileError, RequeueAfter, SkipResource, TerminalError
from operatorkit.status import drop_unknown_fields, status_problems
from operatorkit.workqueue import ExponentialBackoff, ShutDown, WorkQueue

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from operatorkit.client import KubeClient, Object
    from operatorkit.events import EventRecorder
    from operatorkit.informer import Informer, Store
    from operatorkit.kinds import Kind
    from operatorkit.resource import Resource

log = logging.getLogger(__name__)

PAUSED_ANNOTATION = "kubeception.io/paused"
READY = "Ready"
_STATUS_RETRY_CONFLICTS = 3


@dataclass
class _Outcome:
    result: str  # one of metrics.RECONCILE_RESULTS
    requeue_after: float | None = None
    rate_limited: bool = False


@dataclass
class Controller(Generic[SpecT]):
    """Declares what to reconcile; the :class:`~operatorkit.operator.Operator` wires and runs it.

    ``spec_model`` (a pydantic model) validates ``.spec``; resources then see the model as ``ctx.spec``.
    ``owns`` lists kinds whose objects point back at the primary object (ownerReference, or the owner labels for
    cluster-scoped dependents of namespaced objects): their changes reconcile the owner, and resources read them
    through ``ctx.cache(kind)``.
    """

    name: str
    kind: Kind
    resources: Sequence[Resource[SpecT]]
    spec_model: type[pydantic.BaseModel] | None = None
    status_model: type[pydantic.BaseModel] | None = None
    """Checks every status before it is written (see :mod:`operatorkit.status`)."""
    owns: Sequence[Kind] = ()
    workers: int = 4
    finalizer: str | None = None
    resync_period: float = 10 * 3600.0
    backoff_base: float = 0.005
    backoff_cap: float = 1000.0
    ready_condition: str | None = READY
    watches: Sequence[tuple[Kind, Callable[[Object], list[str]]]] = ()
    owned_selector: str | None = None
    """Label selector for the informers of ``owns`` kinds: cache only this operator's dependents."""
    before_start: Callable[[Sequence[Object]], None] | None = None
    """Called with every cached primary object once caches are synced, before the first reconcile (e.g. to
    rebuild an allocation table from recorded statuses)."""

    # wired by the operator
    _client: KubeClient = field(init=False, repr=False)
    _informer: Informer = field(init=False, repr=False)
    _informers: dict[Kind, Informer] = field(init=False, repr=False, default_factory=dict)
    _events: EventRecorder = field(init=False, repr=False)
    _field_manager: str = field(init=False, repr=False, default="")
    _may_reconcile: Callable[[], bool] = field(init=False, repr=False, default=lambda: True)
    queue: WorkQueue = field(init=False, repr=False)
    _threads: list[threading.Thread] = field(init=False, repr=False, default_factory=list)
    _stopping: threading.Event = field(init=False, repr=False, default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.finalizer = self.finalizer or f"kubeception.io/{self.name}"
        # A finalizer costs a write per object and blocks deletion: add it only when a resource needs it.
        self.uses_finalizer = any(resource.needs_finalizer(self.kind) for resource in self.resources)
        self.queue = WorkQueue(self.name, ExponentialBackoff(self.backoff_base, self.backoff_cap))
        metrics.zero_controller_series(self.name, self.workers)

    # -- wiring ------------------------------------------------------------------------------------------------
    def bind(
        self,
        *,
        client: KubeClient,
        informer: Informer,
        informers: dict[Kind, Informer],
        events: EventRecorder,
        field_manager: str,
        may_reconcile: Callable[[], bool],
    ) -> None:
        self._client = client
        self._informer = informer
        self._informers = {self.kind: informer, **informers}
        self._events = events
        self._field_manager = field_manager
        self._may_reconcile = may_reconcile
        informer.add_handler(_PrimaryHandler(self.queue, owner=self))

    @property
    def store(self) -> Store:
        """The cache of the primary objects."""
        return self._informer.store

    def settled(self) -> bool:
        """Nothing queued and nothing running (for tests and shutdown)."""
        return len(self.queue) == 0 and not self.queue.processing()

    def enqueue_owners(self, obj: Object) -> None:
        """Enqueue the primary objects ``obj`` belongs to (ownerReference or owner labels)."""
        meta = obj["metadata"]
        for ref in meta.get("ownerReferences", []):
            if ref.get("kind") == self.kind.kind and ref.get("apiVersion") == self.kind.api_version:
                namespace = meta.get("namespace") if self.kind.namespaced else None
                self.queue.add(f"{namespace}/{ref['name']}" if namespace else ref["name"])
        labels = meta.get("labels", {})
        if (owner := labels.get(OWNER_NAME_LABEL)) is not None:
            namespace = labels.get(OWNER_NAMESPACE_LABEL)
            self.queue.add(f"{namespace}/{owner}" if namespace else owner)

    def mapped_enqueuer(self, mapper: Callable[[Object], list[str]]) -> Callable[[Object], None]:
        """An event callback that enqueues the keys ``mapper`` derives from a watched object."""

        def enqueue(obj: Object) -> None:
            for key in mapper(obj):
                self.queue.add(key)

        return enqueue

    # -- running -----------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping.clear()
        if self.before_start is not None:
            self.before_start(self._informer.store.objects())
        for index in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"{self.name}-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        resync = threading.Thread(target=self._resync_loop, name=f"{self.name}-resync", daemon=True)
        resync.start()
        self._threads.append(resync)

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
        while not self._stopping.wait(self.resync_period * random.uniform(1.0, 1.1)):
            for key in self._informer.store.all_keys():
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
                    self._process(key)
                finally:
                    active.dec()
            finally:
                self.queue.done(key)

    def _process(self, key: str) -> None:
        started = time.monotonic()
        reconcile_id = uuid.uuid4().hex[:12]
        with reconcile_scope(self.name, key, reconcile_id) as scoped:
            try:
                outcome = self.reconcile(key, scoped)
            except Exception:
                scoped.exception("unexpected error in reconcile")
                metrics.reconcile_panics_total.labels(self.name).inc()
                metrics.reconcile_errors_total.labels(self.name).inc()
                outcome = _Outcome("error", rate_limited=True)
            elapsed = time.monotonic() - started
            scoped.debug("reconcile finished: %s in %.3f s", outcome.result, elapsed)
        metrics.reconcile_time_seconds.labels(self.name).observe(elapsed)
        metrics.reconcile_total.labels(self.name, outcome.result).inc()
        if outcome.rate_limited:
            self.queue.add_rate_limited(key)
            return
        self.queue.forget(key)
        if outcome.requeue_after is not None:
            self.queue.add_after(key, outcome.requeue_after)

    # -- one reconcile -----------------------------------------------------------------------------------------
    def reconcile(self, key: str, log: logging.LoggerAdapter[Any]) -> _Outcome:
        obj = self._informer.store.get(key)
        if obj is None:
            return _Outcome("success")  # gone; its finalizer guaranteed the cleanup ran
        meta = obj["metadata"]
        deleting = bool(meta.get("deletionTimestamp"))
        if deleting and self.finalizer not in meta.get("finalizers", []):
            return _Outcome("success")
        if meta.get("annotations", {}).get(PAUSED_ANNOTATION) == "true":
            log.debug("paused")
            return _Outcome("success")

        spec: Any = obj.get("spec", {})
        ctx: Context[Any] = Context(
            obj=obj,
            spec=spec,
            client=self._client,
            log=log,
            field_manager=self._field_manager,
            events=self._events,
            stores={kind: informer.store for kind, informer in self._informers.items()},
            remember=self._remember,
            deleting=deleting,
        )
        try:
            if self.spec_model is not None and not deleting:
                ctx.spec = self._validate_spec(spec)
            elif self.spec_model is not None:
                ctx.spec = self._spec_for_deletion(spec)
            outcome = self._run_deletion(ctx) if deleting else self._run_creation(ctx)
        except TerminalError as exc:
            outcome = self._failed(ctx, exc, terminal=True)
        except ApiError as exc:
            if exc.conflict and not exc.already_exists:
                log.info("conflict, requeueing: %s", exc.message)
                return _Outcome("requeue", rate_limited=True)
            outcome = self._failed(ctx, exc, terminal=False)
        except ReconcileError as exc:
            outcome = self._failed(ctx, exc, terminal=False)
        if self.status_model is not None:
            drop_unknown_fields(self.status_model, ctx.status)
            if problems := status_problems(self.status_model, ctx.status):
                outcome = self._invalid_status(ctx, obj, problems)
        try:
            self._write_status(ctx)
        except ApiError as exc:
            log.warning("could not write status: %s", exc)
            return _Outcome("error", rate_limited=True)
        return outcome

    def _invalid_status(self, ctx: Context[Any], obj: Object, problems: str) -> _Outcome:
        """A status the model rejects is the operator's bug: keep the stored one and say so on the object."""
        ctx.log.error("not writing an invalid status: %s", problems)
        metrics.reconcile_errors_total.labels(self.name).inc()
        ctx.status = copy.deepcopy(obj.get("status") or {})
        if self.ready_condition:
            ctx.set_condition(self.ready_condition, "False", "InvalidStatus", f"operator bug: {problems}")
        return _Outcome("error", rate_limited=True)

    def _validate_spec(self, spec: Any) -> pydantic.BaseModel:
        assert self.spec_model is not None
        try:
            return self.spec_model.model_validate(spec)
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"spec.{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
                if error["loc"]
                else f"spec: {error['msg']}"
                for error in exc.errors()
            )
            raise TerminalError(f"invalid spec: {problems}", reason="InvalidSpec") from None

    def _spec_for_deletion(self, spec: Any) -> Any:
        """Deletion must go on even when the spec no longer validates: fall back to the raw dict."""
        assert self.spec_model is not None
        try:
            return self.spec_model.model_validate(spec)
        except pydantic.ValidationError:
            return spec

    def _run_creation(self, ctx: Context[Any]) -> _Outcome:
        self._ensure_finalizer(ctx)
        requeue: float | None = None
        for resource in self.resources:
            try:
                resource.ensure_created(ctx)
            except SkipResource:
                continue
            except CancelReconcile:
                break
            except RequeueAfter as signal:
                requeue = signal.delay
                break
        self._mark_ready(ctx)
        return self._finish(ctx, requeue)

    def _run_deletion(self, ctx: Context[Any]) -> _Outcome:
        requeue: float | None = None
        for resource in reversed(self.resources):
            try:
                resource.ensure_deleted(ctx)
            except SkipResource:
                continue
            except CancelReconcile:
                ctx.keep_finalizer("deletion cancelled")
                break
            except RequeueAfter as signal:
                ctx.keep_finalizer(str(signal))
                requeue = signal.delay
                break
        if ctx.finalizer_kept is not None:
            ctx.log.info("finalizer kept: %s", ctx.finalizer_kept)
            if self.ready_condition and self.ready_condition not in ctx.conditions_set:
                ctx.set_condition(self.ready_condition, "False", "Deleting", ctx.finalizer_kept)
            if requeue is None and ctx.requeue_delay is None:
                return _Outcome("requeue", rate_limited=True)
            return self._finish(ctx, requeue)
        self._remove_finalizer(ctx)
        return _Outcome("success")

    def _finish(self, ctx: Context[Any], requeue: float | None) -> _Outcome:
        delays = [d for d in (requeue, ctx.requeue_delay) if d is not None]
        if delays:
            return _Outcome("requeue_after", requeue_after=min(delays))
        return _Outcome("success")

    def _mark_ready(self, ctx: Context[Any]) -> None:
        ctx.status["observedGeneration"] = ctx.generation
        if self.ready_condition and self.ready_condition not in ctx.conditions_set:
            ctx.set_condition(self.ready_condition, "True", "Reconciled", "")

    def _failed(self, ctx: Context[Any], exc: Exception, *, terminal: bool) -> _Outcome:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        message = str(exc) if not isinstance(exc, ApiError) else f"API server: {exc}"
        if terminal:
            ctx.log.warning("terminal error: %s", message)
            metrics.terminal_reconcile_errors_total.labels(self.name).inc()
        else:
            ctx.log.warning("reconcile failed: %s", message)
        metrics.reconcile_errors_total.labels(self.name).inc()
        if ctx.deleting:
            ctx.keep_finalizer(message)  # a failed ensure_deleted: deletion is replayed
        if self.ready_condition:
            ctx.set_condition(self.ready_condition, "False", reason, message)
        if terminal:
            ctx.status["observedGeneration"] = ctx.generation
        ctx.event("Warning", reason, message)
        return _Outcome("error", rate_limited=not terminal)

    # -- writes ------------------------------------------------------------------------------------------------
    def _ensure_finalizer(self, ctx: Context[Any]) -> None:
        meta = ctx.obj["metadata"]
        finalizers = meta.get("finalizers", [])
        if not self.uses_finalizer or self.finalizer in finalizers:
            return
        updated = self._client.patch(
            self.kind,
            meta["name"],
            {
                "metadata": {
                    "finalizers": [*finalizers, self.finalizer],
                    "resourceVersion": meta["resourceVersion"],
                }
            },
            meta.get("namespace"),
        )
        self._remember_primary(ctx, updated)
        ctx.obj = {**ctx.obj, "metadata": updated["metadata"]}

    def _remember(self, kind: Kind, obj: Object) -> None:
        if (informer := self._informers.get(kind)) is not None:
            informer.remember(obj, writer=self)

    def _remember_primary(self, ctx: Context[Any], written: Object) -> None:
        """Write-through of our own write; if someone else changed what we reconciled meanwhile, go again."""
        ctx.remember(self.kind, written)
        before, after = ctx.obj["metadata"], written["metadata"]
        if any(before.get(f) != after.get(f) for f in ("generation", "labels", "annotations", "deletionTimestamp")):
            self.queue.add(_key(written))

    def _remove_finalizer(self, ctx: Context[Any]) -> None:
        meta = ctx.obj["metadata"]
        remaining = [f for f in meta.get("finalizers", []) if f != self.finalizer]
        try:
            self._client.patch(
                self.kind,
                meta["name"],
                {"metadata": {"finalizers": remaining, "resourceVersion": meta["resourceVersion"]}},
                meta.get("namespace"),
            )
        except ApiError as exc:
            if not exc.not_found:
                raise

    def _write_status(self, ctx: Context[Any]) -> None:
        if ctx.deleting and ctx.finalizer_kept is None:
            return  # the finalizer is gone; the object may be too
        original = ctx.obj.get("status") or {}
        if ctx.status == original:
            return
        patch: dict[str, Any] = dict(ctx.status)  # top level only: removed keys become null
        for removed in set(original) - set(ctx.status):
            patch[removed] = None
        meta = ctx.obj["metadata"]
        try:
            written = self._client.patch(
                self.kind, meta["name"], {"status": patch}, meta.get("namespace"), subresource="status"
            )
        except ApiError as exc:
            if exc.not_found:
                return
            raise
        self._remember_primary(ctx, written)


class _PrimaryHandler:
    def __init__(self, queue: WorkQueue, owner: object) -> None:
        self.queue = queue
        self.owner = owner  # the controller: its own writes do not wake it (see Informer.remember)

    def on_add(self, obj: Object) -> None:
        self.queue.add(_key(obj))

    def on_update(self, old: Object, new: Object) -> None:
        if _meaningful_change(old, new):
            self.queue.add(_key(new))

    def on_delete(self, obj: Object) -> None:
        self.queue.add(_key(obj))


_WATCHED_METADATA = ("generation", "labels", "annotations", "deletionTimestamp", "ownerReferences")


def _meaningful_change(old: Object, new: Object) -> bool:
    """Whether an update of a primary object needs a reconcile: spec (generation), labels, annotations,
    deletion or owners changed. Status and bookkeeping (finalizers, managedFields) are the controller's own
    writes; reacting to them would reconcile every object twice and defeat the backoff.
    """
    before, after = old.get("metadata", {}), new.get("metadata", {})
    return any(before.get(field) != after.get(field) for field in _WATCHED_METADATA)


class OwnerHandler:
    """Maps events of a dependent kind to its owners' keys (``owner``: the controller it feeds)."""

    def __init__(self, mapper: Callable[[Object], None], owner: object) -> None:
        self.mapper = mapper
        self.owner = owner

    def on_add(self, obj: Object) -> None:
        self.mapper(obj)

    def on_update(self, old: Object, new: Object) -> None:
        self.mapper(new)

    def on_delete(self, obj: Object) -> None:
        self.mapper(obj)
