"""Lost state is reported, not recreated — one contract for every operator.

State an object had (its status recorded it) that is gone — a CA no longer in Vault, a stack no longer in the
account — is a condition of its own (``<What>Lost``-style, True), ``Ready=False`` with that condition as reason and
a Warning Event when first seen; the operator's metric, which an alert watches, is the operator's own. Nothing is
made again unless a person asks (each operator's recreate annotation).

:func:`report_lost` returns the error to raise: a step that needs the state raises it (the reconcile stops there);
a check that only watches (drift) reports and goes on. :func:`clear_lost` turns the condition False once the state
is back — only on an object that had it, so one that never lost anything carries no such condition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from operatorkit._base.conditions import get_condition, is_true
from operatorkit._core.names import READY
from operatorkit._core.signals import ReconcileError

if TYPE_CHECKING:
    from operatorkit._core.context import Context


def report_lost(ctx: Context[Any, Any], condition: str, reason: str, message: str) -> ReconcileError:
    """Report lost state under condition type ``condition`` (True, ``reason``, ``message``); the error that stops
    the reconcile, with ``condition`` as its reason."""
    if not is_true(ctx.status, condition):
        ctx.event("Warning", condition, message)
    ctx.set_condition(condition, "True", reason, message)
    ctx.set_condition(READY, "False", condition, message)
    return ReconcileError(message, reason=condition)


def clear_lost(ctx: Context[Any, Any], condition: str, reason: str, message: str) -> None:
    """The state is there (again): ``condition`` False with ``reason`` and ``message`` — if the object had it."""
    if get_condition(ctx.status, condition) is not None:
        ctx.set_condition(condition, "False", reason, message)
