"""Control flow a resource can signal to the reconcile loop (Giant Swarm operatorkit's, as exceptions).

Flags that do not abort anything — keep the finalizer, come back later — are methods of the context instead:
:meth:`~operatorkit.Context.keep_finalizer` and :meth:`~operatorkit.Context.requeue_after`.
"""

from __future__ import annotations


class ControlFlow(Exception):
    """Base of the signals; never counted as a reconcile error."""


class CancelReconcile(ControlFlow):
    """Stop this reconcile loop here: the remaining resources do not run. Counts as success."""


class SkipResource(ControlFlow):
    """Skip the rest of the current resource and go on with the next one."""


class RequeueAfter(ControlFlow):
    """Stop this loop and run it again after ``delay`` seconds (e.g. waiting for something external)."""

    def __init__(self, delay: float, reason: str = "") -> None:
        super().__init__(reason or f"requeue after {delay:.1f} s")
        self.delay = delay


class ReconcileError(Exception):
    """An expected failure with a condition ``reason`` (CamelCase); retried with backoff."""

    reason = "ReconcileError"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        if reason:
            self.reason = reason


class TerminalError(ReconcileError):
    """A failure retrying cannot fix (bad input): the condition says why; no retry until the object changes."""

    reason = "TerminalError"
