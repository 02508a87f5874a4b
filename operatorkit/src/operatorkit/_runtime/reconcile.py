"""One reconcile of one object, start to end.

Read the object from the cache → skip if paused → validate the spec (a bad spec is a condition, never a crash)
→ add the finalizer before the first create → every resource's ``ensure_created`` in order; or, when the object
is being deleted, every ``ensure_deleted`` in reverse order and then remove the finalizer → conditions and
``observedGeneration`` through the status subresource, only when they changed.

Every resource step runs wrapped (Giant Swarm's ``metricsresource``): its log lines carry its name and its
duration goes to ``operatorkit_resource_step_duration_seconds{controller,resource,step}``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pydantic

from operatorkit import timestamps
from operatorkit._base import metrics
from operatorkit._base.client import ApiError
from operatorkit._base.logs import resource_scope
from operatorkit._core.context import Context
from operatorkit._core.names import PAUSED_ANNOTATION
from operatorkit._core.signals import CancelReconcile, ReconcileError, RequeueAfter, SkipResource, TerminalError
from operatorkit._core.status import Status, parse_status, status_problems

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping

    from operatorkit._base.client import KubeClient, Object
    from operatorkit._core.cache import CacheReader
    from operatorkit._core.context import EventSink
    from operatorkit._core.controller import Controller
    from operatorkit._core.resource import Resource
    from operatorkit._runtime.writes import PrimaryWriter
    from operatorkit.kinds import Kind


@dataclass
class Outcome:
    result: str  # one of metrics.RECONCILE_RESULTS
    requeue_after: float | None = None
    rate_limited: bool = False


def deletion_wait(requested: float, waited: float, cap: float) -> float:
    """How long a deletion that waits (for its dependents to go, for an external operation to finish) sleeps before
    it looks again: what it asked for, or a tenth of how long it has waited so far, up to ``cap`` (the backoff
    cap). A deletion held for an hour looks every six minutes, not every two seconds; what it waits for still wakes
    it at once through the watches."""
    return max(requested, min(cap, waited / 10))


def since(timestamp: str | None) -> float | None:
    """Seconds since an API server timestamp (RFC 3339), never negative; None without one."""
    if not timestamp:
        return None
    try:
        return timestamps.since(timestamp)
    except ValueError:
        return None


def spec_problems(error: pydantic.ValidationError) -> str:
    """A validation error as a person reads it: ``spec.field: message`` (no validator internals)."""
    return "; ".join(
        f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"] else f"spec: {e['msg']}"
        for e in error.errors(include_url=False)
    )


class Reconciler:
    def __init__(
        self,
        declaration: Controller[Any, Any],
        *,
        client: KubeClient,
        caches: Mapping[Kind, CacheReader],
        events: EventSink,
        field_manager: str,
        writer: PrimaryWriter,
        remember: Callable[[Kind, Object], None],
        wait_cap: float = 1000.0,
    ) -> None:
        self.declaration = declaration
        self.name = declaration.name
        self.client = client
        self.caches = caches
        self.events = events
        self.field_manager = field_manager
        self.writer = writer
        self.remember = remember
        self.status_model: type[Status] = declaration.status_model or Status
        self.wait_cap = wait_cap
        self._deleting: dict[str, str] = {}  # key → deletionTimestamp, while a deletion is held
        self._deleting_lock = threading.Lock()
        metrics.deletion_waiting_seconds.labels(self.name).set_function(self._longest_deletion)

    def _longest_deletion(self) -> float:
        """Seconds the oldest held deletion of this controller has waited (0: none is held)."""
        with self._deleting_lock:
            stamps = list(self._deleting.values())
        return max((since(stamp) or 0.0 for stamp in stamps), default=0.0)

    def _held(self, key: str, stamp: str | None) -> None:
        with self._deleting_lock:
            if stamp:
                self._deleting[key] = stamp
            else:
                self._deleting.pop(key, None)

    def reconcile(self, key: str, log: logging.LoggerAdapter[Any]) -> Outcome:
        obj = self.caches[self.declaration.kind].get(key)
        if obj is None:
            self._held(key, None)
            return Outcome("success")  # gone; its finalizer guaranteed the cleanup ran
        meta = obj["metadata"]
        deleting = bool(meta.get("deletionTimestamp"))
        if deleting and self.declaration.finalizer not in meta.get("finalizers", []):
            self._held(key, None)
            return Outcome("success")
        if meta.get("annotations", {}).get(PAUSED_ANNOTATION) == "true":
            log.debug("paused")
            return Outcome("success")
        spec, error = self._validate(obj)
        fallback = self.declaration.deletion_spec
        ctx = self._context(obj, spec, error, log, deleting, fallback(obj) if error and deleting and fallback else None)
        try:
            if error is not None and not deleting:
                raise TerminalError(error, reason="InvalidSpec")
            outcome = self._run_deletion(ctx) if deleting else self._run_creation(ctx)
        except TerminalError as exc:
            outcome = self._failed(ctx, exc, terminal=True)
        except ApiError as exc:
            if exc.conflict and not exc.already_exists:
                log.info("conflict, requeueing: %s", exc.message)
                return Outcome("requeue", rate_limited=True)
            outcome = self._failed(ctx, exc, terminal=False)
        except ReconcileError as exc:
            outcome = self._failed(ctx, exc, terminal=False)
        if deleting:
            self._held(key, meta["deletionTimestamp"] if ctx.finalizer_kept is not None else None)
        desired = ctx.desired_status()
        if (problems := self._status_problems(ctx, desired)) is not None:
            outcome = self._invalid_status(ctx, problems)  # checked only when it would be written
            desired = ctx.desired_status()
        try:
            self.writer.write_status(ctx, desired)
        except ApiError as exc:
            log.warning("could not write status: %s", exc)
            return Outcome("error", rate_limited=True)
        return outcome

    # -- building the context ----------------------------------------------------------------------------------
    def _validate(self, obj: Object) -> tuple[Any, str | None]:
        """The spec as the model reads it, or None and why not (deletion goes on without it)."""
        spec: Any = obj.get("spec") or {}
        if (model := self.declaration.spec_model) is None:
            return spec, None
        try:
            return model.model_validate(spec), None
        except pydantic.ValidationError as exc:
            return None, f"invalid spec: {spec_problems(exc)}"

    def _context(
        self,
        obj: Object,
        spec: Any,
        error: str | None,
        log: logging.LoggerAdapter[Any],
        deleting: bool,
        deletion_spec: Any = None,
    ) -> Context[Any, Any]:
        return Context(
            obj=obj,
            spec=spec,
            spec_error=error,
            recorded=lambda: self._recorded(obj, log),
            client=self.client,
            log=log,
            field_manager=self.field_manager,
            events=self.events,
            caches=self.caches,
            deleting=deleting,
            remember=self.remember,
            save=self._save,
            deletion_spec=deletion_spec,
            status_model=self.declaration.status_model,
        )

    def _status_problems(self, ctx: Context[Any, Any], desired: dict[str, Any]) -> str | None:
        """Why the status to be written (``desired``) does not fit the model (None: it fits, or is unchanged)."""
        if self.declaration.status_model is None:
            return None
        if desired == (ctx.obj.get("status") or {}):
            return None
        return status_problems(self.status_model, desired)

    def _save(self, ctx: Context[Any, Any]) -> None:
        """:meth:`Context.save_status`: the status written now; the rest of the reconcile writes only what changes
        after it."""
        desired = ctx.desired_status()
        if (problems := self._status_problems(ctx, desired)) is not None:
            raise ReconcileError(f"operator bug, status not saved: {problems}", reason="InvalidStatus")
        written = self.writer.write_status(ctx, desired)
        if written is not None:
            ctx.obj = {**ctx.obj, "metadata": written["metadata"], "status": written.get("status") or {}}

    def _recorded(self, obj: Object, log: logging.LoggerAdapter[Any]) -> Status:
        """The stored status, typed; fields of other versions dropped, and fields the model refuses (logged)."""
        return parse_status(self.status_model, obj.get("status") or {}, log)

    # -- the two flows -----------------------------------------------------------------------------------------
    def _step(self, resource: Resource[Any, Any], step: str, ctx: Context[Any, Any]) -> None:
        started = time.monotonic()
        try:
            with resource_scope(resource.name):
                if step == "create":
                    resource.ensure_created(ctx)
                else:
                    resource.ensure_deleted(ctx)
        finally:
            elapsed = time.monotonic() - started
            metrics.resource_step_seconds.labels(self.name, resource.name, step).observe(elapsed)

    def _run_creation(self, ctx: Context[Any, Any]) -> Outcome:
        if self.declaration.uses_finalizer:
            self.writer.add_finalizer(ctx)
        requeue: float | None = None
        for resource in self.declaration.resources:
            try:
                self._step(resource, "create", ctx)
            except SkipResource:
                continue
            except CancelReconcile:
                break
            except RequeueAfter as signal:
                requeue = signal.delay
                break
        self._mark_ready(ctx)
        return self._finish(ctx, requeue)

    def _run_deletion(self, ctx: Context[Any, Any]) -> Outcome:
        requeue: float | None = None
        for resource in reversed(self.declaration.resources):
            try:
                self._step(resource, "delete", ctx)
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
            ready = self.declaration.ready_condition
            if ready and ready not in ctx.conditions_set:
                ctx.set_condition(ready, "False", "Deleting", ctx.finalizer_kept)
            if requeue is None and ctx.requeue_delay is None:
                return Outcome("requeue", rate_limited=True)
            outcome = self._finish(ctx, requeue)
            waited = since(ctx.obj["metadata"].get("deletionTimestamp")) or 0.0
            if outcome.requeue_after is not None:
                outcome.requeue_after = deletion_wait(outcome.requeue_after, waited, self.wait_cap)
            return outcome
        self.writer.remove_finalizer(ctx)
        return Outcome("success")

    # -- endings -----------------------------------------------------------------------------------------------
    @staticmethod
    def _finish(ctx: Context[Any, Any], requeue: float | None) -> Outcome:
        delays = [d for d in (requeue, ctx.requeue_delay) if d is not None]
        if delays:
            return Outcome("requeue_after", requeue_after=min(delays))
        return Outcome("success")

    def _mark_ready(self, ctx: Context[Any, Any]) -> None:
        ctx.observe_generation()
        ready = self.declaration.ready_condition
        if ready and ready not in ctx.conditions_set:
            ctx.set_condition(ready, "True", "Reconciled", "")

    def _failed(self, ctx: Context[Any, Any], exc: Exception, *, terminal: bool) -> Outcome:
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
        if self.declaration.ready_condition:
            ctx.set_condition(self.declaration.ready_condition, "False", reason, message)
        if terminal:
            ctx.observe_generation()
        ctx.event("Warning", reason, message)
        # A deletion is retried with backoff whatever failed: nothing but finishing it releases the object.
        return Outcome("error", rate_limited=not terminal or ctx.deleting)

    def _invalid_status(self, ctx: Context[Any, Any], problems: str) -> Outcome:
        """A status the model rejects is the operator's bug: keep the stored one and say so on the object."""
        ctx.log.error("not writing an invalid status: %s", problems)
        metrics.reconcile_errors_total.labels(self.name).inc()
        ctx.reset_status()
        if self.declaration.ready_condition:
            ctx.set_condition(self.declaration.ready_condition, "False", "InvalidStatus", f"operator bug: {problems}")
        return Outcome("error", rate_limited=True)
