"""The cluster's objects on the mother (its namespace and PKI): owned by its AWSConfig through owner labels (they
live in the cluster's namespace, not the AWSConfig's), so deleted by us, in order — one at a time, each waited for,
or as a tier (:class:`DeletedTogether`): all deleted at once, then waited for together."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aws_operator.spec import AWSConfigSpec, AWSConfigStatus, AWSContext
from operatorkit import ObjectResource, RequeueAfter, Resource, owned_by

if TYPE_CHECKING:
    from collections.abc import Sequence

    from operatorkit.kinds import Kind


@dataclass
class ClusterObject(ObjectResource[AWSConfigSpec, AWSConfigStatus]):
    waits: bool = field(default=True, kw_only=True)  # False in a tier: its DeletedTogether waits for it

    def needs_finalizer(self, primary: Kind) -> bool:
        return True

    def ensure_deleted(self, ctx: AWSContext) -> None:
        super().ensure_deleted(ctx)
        if self.waits and (left := self.remaining(ctx)):
            raise RequeueAfter(2, f"waiting for {left} to go")

    def remaining(self, ctx: AWSContext) -> str | None:
        """``"<Kind> <name>"`` while the object is still there and ours (never one of the same name another owns)."""
        current = self.current_state(ctx)
        if current is None or not owned_by(current, ctx.obj):
            return None
        return f"{self.kind.kind} {current['metadata']['name']}"


@dataclass
class DeletedTogether(Resource[AWSConfigSpec, AWSConfigStatus]):
    """A deletion tier: placed before its members in the resource list, it runs after them at deletion, when each has
    been asked to delete without waiting, and waits until all are gone — one wait for the CA and its ten
    certificates (cert-operator keeps the CA until its certificates are revoked) instead of eleven in a row."""

    tier: str
    members: Sequence[ClusterObject]

    @property
    def name(self) -> str:
        return f"{self.tier}-gone"

    def __post_init__(self) -> None:
        for member in self.members:
            member.waits = False

    def ensure_created(self, ctx: AWSContext) -> None:
        return None

    def ensure_deleted(self, ctx: AWSContext) -> None:
        left = [name for member in self.members if (name := member.remaining(ctx))]
        if left:
            more = f" and {len(left) - 3} more" if len(left) > 3 else ""
            raise RequeueAfter(2, f"waiting for {', '.join(left[:3])}{more} to go")
