"""Lost state is reported, not recreated: a CA the status recorded that is no longer in Vault (a wiped or
restored Vault, a deleted mount) is a condition, a Warning Event and a metric — and a new CA is generated only
when a person asks for it by naming the lost one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import operatorkit
from cert_operator import key, metrics

if TYPE_CHECKING:
    from cert_operator.spec import CAContext
    from operatorkit import ReconcileError


def recreate_requested(ctx: CAContext) -> bool:
    """Whether the CAConfig names its lost CA in the recreate annotation."""
    lost = ctx.recorded.ca
    return lost is not None and ctx.annotations.get(key.RECREATE_CA_ANNOTATION) == lost.serial


def report_lost(ctx: CAContext, what: str) -> ReconcileError:
    """The error that stops this CAConfig (and, through its Ready condition, every certificate of the cluster)."""
    lost = ctx.recorded.ca
    assert lost is not None
    message = (
        f"{what}: the cluster's CA {lost.serial} (valid until {lost.not_after}) is gone from Vault. Nothing was "
        f"recreated: restore Vault, or — knowing every certificate and every client trusting the old CA must be "
        f"replaced — annotate this CAConfig {key.RECREATE_CA_ANNOTATION}={lost.serial}"
    )
    metrics.ca_lost.labels(ctx.namespace or "", ctx.name, lost.serial).set(1)
    return operatorkit.report_lost(ctx, "CALost", "NotInVault", message)


def clear_lost(ctx: CAContext) -> None:
    operatorkit.clear_lost(ctx, "CALost", "InVault", "the recorded CA is in Vault")
    lost = ctx.recorded.ca
    if lost is not None:
        metrics.clear_ca_lost(ctx.namespace or "", ctx.name)
