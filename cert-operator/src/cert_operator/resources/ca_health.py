"""The CAConfig's Ready condition, from what was checked: the active CA is in Vault (RootCA got it), its
validity window contains now, and the roles are written. An expired CA is not Ready — certificates would not
verify — and the condition says to rotate it; the controller comes back at the moment the CA expires."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cert_operator.spec import CAConfigSpec, CAConfigStatus
from operatorkit import READY, Resource, required, timestamps

if TYPE_CHECKING:
    from cert_operator.spec import CAContext


@dataclass
class CAHealth(Resource[CAConfigSpec, CAConfigStatus]):
    def ensure_created(self, ctx: CAContext) -> None:
        ca = required(ctx.status.ca, "ca")
        not_before, not_after = timestamps.parse(ca.not_before), timestamps.parse(ca.not_after)
        now = timestamps.now()
        if now >= not_after:
            ctx.set_condition(
                READY,
                "False",
                "CAExpired",
                f"CA {ca.serial} expired at {ca.not_after}: certificates it signed no longer verify; "
                "rotate it (set spec.rotation.id)",
            )
            return
        if now < not_before:
            ctx.set_condition(READY, "False", "CANotYetValid", f"CA {ca.serial} is valid from {ca.not_before}")
            ctx.requeue_after((not_before - now).total_seconds())
            return
        roles = ", ".join(ctx.status.roles or []) or "none"
        ctx.set_condition(READY, "True", "CAValid", f"CA {ca.serial} valid until {ca.not_after}; roles: {roles}")
        ctx.requeue_after(max(1.0, (not_after - now).total_seconds()))  # to flip Ready when it expires
