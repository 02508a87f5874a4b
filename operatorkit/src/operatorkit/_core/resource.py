"""Resources: the small single-purpose steps a controller runs in order (Giant Swarm's operatorkit).

A :class:`Resource` implements ``ensure_created`` and/or ``ensure_deleted``; a step that only acts on creation (or
only on deletion) writes just that one. A :class:`CRUDResource` splits the work into current state → desired
state → a :class:`Patch` of create, delete and update changes, applied in that order. :class:`ObjectResource` is
the common case: one Kubernetes object, read from the shared cache, created with POST, updated with server-side
apply only when a desired field differs — and only if this primary object owns it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from operatorkit._core.context import SpecT, StatusT
from operatorkit._core.ownership import owned_by, refusal
from operatorkit._core.signals import RequeueAfter

if TYPE_CHECKING:
    from collections.abc import Sequence

    from operatorkit._base.client import Object
    from operatorkit._core.context import Context
    from operatorkit.kinds import Kind

StateT = TypeVar("StateT")


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


class Resource(Generic[SpecT, StatusT]):
    """One step of a controller. ``name`` labels logs and metrics; it defaults to the class name in kebab case.

    Both methods are optional: the default does nothing. A resource that writes ``ensure_deleted`` makes its
    controller add a finalizer (deletion must wait for it), unless it overrides :meth:`needs_finalizer`.
    """

    @property
    def name(self) -> str:
        return _kebab(type(self).__name__)

    def needs_finalizer(self, primary: Kind) -> bool:
        """Whether deleting the primary object must wait for :meth:`ensure_deleted`."""
        return type(self).ensure_deleted is not Resource.ensure_deleted

    def ensure_created(self, ctx: Context[SpecT, StatusT]) -> None:
        """Make the world match the object; idempotent, called on every reconcile."""

    def ensure_deleted(self, ctx: Context[SpecT, StatusT]) -> None:
        """Undo what ``ensure_created`` did; idempotent, called until every resource succeeded."""


@dataclass
class Patch(Generic[StateT]):
    """What to change: applied as create, then delete, then update (operatorkit's order)."""

    create: StateT | None = None
    delete: StateT | None = None
    update: StateT | None = None


class CRUDResource(Resource[SpecT, StatusT], Generic[SpecT, StateT, StatusT]):
    """A resource expressed as states; subclasses say how to read, compute and write them."""

    def current_state(self, ctx: Context[SpecT, StatusT]) -> StateT | None:
        raise NotImplementedError

    def desired_state(self, ctx: Context[SpecT, StatusT]) -> StateT | None:
        raise NotImplementedError

    def differs(self, current: StateT, desired: StateT) -> bool:
        return current != desired

    def update_patch(
        self, ctx: Context[SpecT, StatusT], current: StateT | None, desired: StateT | None
    ) -> Patch[StateT]:
        if current is None:
            return Patch(create=desired)
        if desired is None:
            return Patch(delete=current)
        return Patch(update=desired) if self.differs(current, desired) else Patch()

    def delete_patch(
        self, ctx: Context[SpecT, StatusT], current: StateT | None, desired: StateT | None
    ) -> Patch[StateT]:
        return Patch(delete=current)

    def create(self, ctx: Context[SpecT, StatusT], state: StateT) -> None:
        raise NotImplementedError(f"{self.name} cannot create")

    def delete(self, ctx: Context[SpecT, StatusT], state: StateT) -> None:
        raise NotImplementedError(f"{self.name} cannot delete")

    def update(self, ctx: Context[SpecT, StatusT], state: StateT) -> None:
        raise NotImplementedError(f"{self.name} cannot update")

    def _apply(self, ctx: Context[SpecT, StatusT], patch: Patch[StateT]) -> None:
        if patch.create is not None:
            self.create(ctx, patch.create)
        if patch.delete is not None:
            self.delete(ctx, patch.delete)
        if patch.update is not None:
            self.update(ctx, patch.update)

    def ensure_created(self, ctx: Context[SpecT, StatusT]) -> None:
        self._apply(ctx, self.update_patch(ctx, self.current_state(ctx), self.desired_state(ctx)))

    def ensure_deleted(self, ctx: Context[SpecT, StatusT]) -> None:
        self._apply(ctx, self.delete_patch(ctx, self.current_state(ctx), self.desired_state(ctx)))


def _omitted(value: Any) -> bool:
    """An empty list, map or string, or null: what the API server leaves out of the object it stores."""
    return value is None or (isinstance(value, list | dict | str) and not value)


def is_subset(desired: Any, current: Any) -> bool:
    """True when every field of ``desired`` has the same value in ``current`` (server defaults may add more; an
    empty field the server leaves out, like a NetworkPolicy's ``ingress: []``, counts as the same).

    This is how server-side apply sees a no-op, so an unchanged object is never written again.
    """
    if isinstance(desired, dict):
        return isinstance(current, dict) and all(
            is_subset(value, current[key]) if key in current else _omitted(value) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(current, list)
            and len(desired) == len(current)
            and all(is_subset(d, c) for d, c in zip(desired, current, strict=True))
        )
    return bool(desired == current)


class ObjectResource(CRUDResource[SpecT, "Object", StatusT]):
    """One Kubernetes object derived from the primary object (a ConfigMap, a Deployment, ...).

    Subclasses set ``kind`` and implement :meth:`manifest`. The current state comes from the controller's cache
    of ``kind`` (declare it in ``owns``). The object is owned by the primary object (garbage-collected with it)
    and never written or deleted unless it is: an object of the same name that belongs to someone else — or to no
    one — is refused with :class:`~operatorkit.NotOwned` naming its owner, unless it invites adoption
    (:data:`~operatorkit.ADOPT_ANNOTATION`).
    """

    kind: ClassVar[Kind]

    def needs_finalizer(self, primary: Kind) -> bool:
        # Owned objects are garbage-collected with their owner; only a cluster-scoped dependent of a namespaced
        # owner (tied by labels, not an ownerReference) has to be deleted by us.
        return primary.namespaced and not self.kind.namespaced

    def manifest(self, ctx: Context[SpecT, StatusT]) -> Object | None:
        """The desired object (metadata.name and namespace included), or None when it should not exist."""
        raise NotImplementedError

    def current_state(self, ctx: Context[SpecT, StatusT]) -> Object | None:
        desired = self.manifest(ctx)
        if desired is None:
            return None
        meta = desired["metadata"]
        return ctx.cache(self.kind).get_by_name(meta["name"], meta.get("namespace"))

    def desired_state(self, ctx: Context[SpecT, StatusT]) -> Object | None:
        return None if ctx.deleting else self.manifest(ctx)

    def differs(self, current: Object, desired: Object) -> bool:
        return not is_subset(desired, current)

    def update_patch(
        self, ctx: Context[SpecT, StatusT], current: Object | None, desired: Object | None
    ) -> Patch[Object]:
        if current is not None and desired is not None and not owned_by(current, ctx.obj):
            return Patch(update=desired)  # not ours (yet): apply checks it, and adopts only when invited
        return super().update_patch(ctx, current, desired)

    def create(self, ctx: Context[SpecT, StatusT], state: Object) -> None:
        ctx.create_or_apply(self.kind, state)

    def update(self, ctx: Context[SpecT, StatusT], state: Object) -> None:
        ctx.create_or_apply(self.kind, state)

    def delete(self, ctx: Context[SpecT, StatusT], state: Object) -> None:
        if not owned_by(state, ctx.obj):
            ctx.log.info("left %s alone at deletion: %s", self.kind.kind, refusal(self.kind, state, ctx.obj))
            return
        meta = state["metadata"]
        ctx.client.delete(self.kind, meta["name"], meta.get("namespace"), uid=meta.get("uid"))

    def delete_patch(
        self, ctx: Context[SpecT, StatusT], current: Object | None, desired: Object | None
    ) -> Patch[Object]:
        if current is None:
            # Not in the cache: it may still exist (cache lag, or never watched); look it up once.
            manifest = self.manifest(ctx)
            if manifest is not None:
                meta = manifest["metadata"]
                current = ctx.lookup(self.kind, meta["name"], meta.get("namespace"))
        return Patch(delete=current)


@dataclass
class DeletedInOrder(ObjectResource[SpecT, StatusT]):
    """An object the controller deletes itself, in the order of its resource list (deletion goes in reverse): the
    step waits until the object is gone before the next one runs — unless it is a member of a
    :class:`DeletedTogether` tier, which waits for all its members at once. For objects tied to the primary by
    labels rather than an ownerReference (in another namespace), which garbage collection would not delete, or
    not in order."""

    waits: bool = field(default=True, kw_only=True)
    """False in a tier: its :class:`DeletedTogether` waits for it."""

    def needs_finalizer(self, primary: Kind) -> bool:
        return True

    def ensure_deleted(self, ctx: Context[SpecT, StatusT]) -> None:
        super().ensure_deleted(ctx)
        if self.waits and (left := self.remaining(ctx)):
            raise RequeueAfter(2, f"waiting for {left} to go")

    def remaining(self, ctx: Context[SpecT, StatusT]) -> str | None:
        """``"<Kind> <name>"`` while the object is still there and ours (never one of the same name another owns),
        else None. Read from the watch cache: waiting costs no API call per object and pass."""
        current = self.current_state(ctx)
        if current is None or not owned_by(current, ctx.obj):
            return None
        return f"{self.kind.kind} {current['metadata']['name']}"


@dataclass
class DeletedTogether(Resource[SpecT, StatusT]):
    """A deletion tier: placed before its members in the resource list, it runs after them at deletion, when each
    has been asked to delete without waiting, and waits until all are gone — one wait for many objects (a CA and
    its certificates, a control plane's objects) instead of one per object in a row."""

    tier: str
    members: Sequence[DeletedInOrder[SpecT, StatusT]]

    @property
    def name(self) -> str:
        return f"{self.tier}-gone"

    def __post_init__(self) -> None:
        for member in self.members:
            member.waits = False

    def ensure_created(self, ctx: Context[SpecT, StatusT]) -> None:
        return None

    def ensure_deleted(self, ctx: Context[SpecT, StatusT]) -> None:
        left = [name for member in self.members if (name := member.remaining(ctx))]
        if left:
            more = f" and {len(left) - 3} more" if len(left) > 3 else ""
            raise RequeueAfter(2, f"waiting for {', '.join(left[:3])}{more} to go")
