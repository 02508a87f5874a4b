"""GuestCredentialRequest step: the user and the CSR are acceptable (``cert_operator.guest_policy``) — checked
before the cluster is looked up, so a refused request costs nothing and learns nothing of any cluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cert_operator import guest_policy
from cert_operator.resources.guest import issued
from cert_operator.spec import GuestCredentialRequestSpec, GuestCredentialRequestStatus
from operatorkit import Resource, TerminalError

if TYPE_CHECKING:
    from cert_operator.spec import GuestContext


@dataclass
class GuestIdentity(Resource[GuestCredentialRequestSpec, GuestCredentialRequestStatus]):
    def ensure_created(self, ctx: GuestContext) -> None:
        if issued(ctx):
            return
        try:
            guest_policy.check_user(ctx.spec.user)
        except guest_policy.Refused as exc:
            raise TerminalError(str(exc), reason="Refused") from None
        try:
            guest_policy.check_csr(ctx.spec.csr)
        except guest_policy.Refused as exc:
            raise TerminalError(str(exc), reason="InvalidCSR") from None
