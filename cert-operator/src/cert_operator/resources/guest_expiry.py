"""GuestCredentialRequest step: ``Expired`` once the certificate's notAfter has passed — one requeue at that time,
never a polling loop. The request can then be deleted (its serial is revoked) and a new one made."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cert_operator.resources.guest import issued
from cert_operator.spec import GuestCredentialRequestSpec, GuestCredentialRequestStatus
from operatorkit import Resource, timestamps

if TYPE_CHECKING:
    from cert_operator.spec import GuestContext

MIN_REQUEUE = 5.0


@dataclass
class GuestExpiry(Resource[GuestCredentialRequestSpec, GuestCredentialRequestStatus]):
    def ensure_created(self, ctx: GuestContext) -> None:
        not_after = ctx.status.not_after
        if not_after is None or not (issued(ctx) or ctx.status.serial_number):
            return
        left = (timestamps.parse(not_after) - timestamps.now()).total_seconds()
        if left > 0:
            ctx.set_condition("Expired", "False", "Valid", f"valid until {not_after}")
            ctx.requeue_after(max(MIN_REQUEUE, left + 1))
        else:
            ctx.set_condition("Expired", "True", "Expired", f"expired at {not_after}: make a new request")
