"""Resources: the small single-purpose steps a controller runs in order (one module per step in operators).

A :class:`Resource` implements ``ensure_created`` / ``ensure_deleted`` directly. A :class:`CRUDResource` splits
the work like Giant Swarm's operatorkit: current state → desired state → a :class:`Patch` of create, delete and
update changes, applied in that order. :class:`ObjectResource` is the common case: one Kubernetes object,
read from the shared cache, created with POST and updated with server-side apply only when the desired fields
differ.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from operatorkit.context import SpecT

if TYPE_CHECKING:
    from operatorkit.client import Object
    from operatorkit.context import Context
    from operatorkit.kinds import Kind

StateT = TypeVar("StateT")


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


class Resource(ABC, Generic[SpecT]):
    """One step of a controller. ``name`` labels logs and conditions; it defaults to the class name."""

    @property
    def name(self) -> str:
        return _kebab(type(self).__name__)

    def needs_finalizer(self, primary: Kind) -> bool:
        """Whether deleting the primary object must wait for :meth:`ensure_deleted` (True unless overridden)."""
        return True

    @abstractmethod
    def ensure_created(self, ctx: Context[SpecT]) -> None:
        """Make the world match the object; idempotent, called on every reconcile."""

    @abstractmethod
    def ensure_deleted(self, ctx: Context[SpecT]) -> None:
        """Undo what ``ensure_created`` did; idempotent, called until every resource succeeded."""


@dataclass
class Patch(Generic[StateT]):
    """What to change: applied as create, then delete, then update (operatorkit's order)."""

    create: StateT | None = None
    delete: StateT | None = None
    update: StateT | None = None


class CRUDResource(Resource[SpecT], Generic[SpecT, StateT]):
    """A resource expressed as states; subclasses say how to read, compute and write them."""

    @abstractmethod
    def current_state(self, ctx: Context[SpecT]) -> StateT | None: ...

    @abstractmethod
    def desired_state(self, ctx: Context[SpecT]) -> StateT | None: ...

    def differs(self, current: StateT, desired: StateT) -> bool:
        return current != desired

    def update_patch(self, ctx: Context[SpecT], current: StateT | None, desired: StateT | None) -> Patch[StateT]:
        if current is None:
            return Patch(create=desired)
        if desired is None:
            return Patch(delete=current)
        return Patch(update=desired) if self.differs(current, desired) else Patch()

    def delete_patch(self, ctx: Context[SpecT], current: StateT | None, desired: StateT | None) -> Patch[StateT]:
        return Patch(delete=current)

    def create(self, ctx: Context[SpecT], state: StateT) -> None:
        raise NotImplementedError(f"{self.name} cannot create")

    def delete(self, ctx: Context[SpecT], state: StateT) -> None:
        raise NotImplementedError(f"{self.name} cannot delete")

    def update(self, ctx: Context[SpecT], state: StateT) -> None:
        raise NotImplementedError(f"{self.name} cannot update")

    def _apply(self, ctx: Context[SpecT], patch: Patch[StateT]) -> None:
        if patch.create is not None:
            self.create(ctx, patch.create)
        if patch.delete is not None:
            self.delete(ctx, patch.delete)
        if patch.update is not None:
            self.update(ctx, patch.update)

    def ensure_created(self, ctx: Context[SpecT]) -> None:
        current = self.current_state(ctx)
        desired = self.desired_state(ctx)
        self._apply(ctx, self.update_patch(ctx, current, desired))

    def ensure_deleted(self, ctx: Context[SpecT]) -> None:
        current = self.current_state(ctx)
        desired = self.desired_state(ctx)
        self._apply(ctx, self.delete_patch(ctx, current, desired))


def is_subset(desired: Any, current: Any) -> bool:
    """True when every field of ``desired`` has the same value in ``current`` (server defaults may add more).

    This is how server-side apply sees a no-op, so an unchanged object is never written again.
    """
    if isinstance(desired, dict):
        return isinstance(current, dict) and all(
            key in current and is_subset(value, current[key]) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(current, list)
            and len(desired) == len(current)
            and all(is_subset(d, c) for d, c in zip(desired, current, strict=True))
        )
    return bool(desired == current)


class ObjectResource(CRUDResource[SpecT, "Object"]):
    """One Kubernetes object derived from the primary object (a ConfigMap, a Deployment, ...).

    Subclasses set ``kind`` and implement :meth:`manifest`. The current state comes from the controller's cache
    of ``kind`` (so list it in ``owns``), writes use server-side apply with the operator's field manager, and the
    object is owned by the primary object (garbage-collected with it) whenever scopes allow.
    """

    kind: Kind

    def needs_finalizer(self, primary: Kind) -> bool:
        # Owned objects are garbage-collected with their owner; only a cluster-scoped dependent of a namespaced
        # owner (tied by labels, not an ownerReference) has to be deleted by us.
        return primary.namespaced and not self.kind.namespaced

    @abstractmethod
    def manifest(self, ctx: Context[SpecT]) -> Object | None:
        """The desired object (metadata.name and namespace included), or None when it should not exist."""

    def current_state(self, ctx: Context[SpecT]) -> Object | None:
        desired = self.manifest(ctx)
        if desired is None:
            return None
        meta = desired["metadata"]
        return ctx.cache(self.kind).get_by_name(meta["name"], meta.get("namespace"))

    def desired_state(self, ctx: Context[SpecT]) -> Object | None:
        return None if ctx.deleting else self.manifest(ctx)

    def differs(self, current: Object, desired: Object) -> bool:
        return not is_subset(desired, current)

    def create(self, ctx: Context[SpecT], state: Object) -> None:
        ctx.create_or_apply(self.kind, state)

    def update(self, ctx: Context[SpecT], state: Object) -> None:
        ctx.apply(self.kind, state)

    def delete(self, ctx: Context[SpecT], state: Object) -> None:
        meta = state["metadata"]
        ctx.client.delete(self.kind, meta["name"], meta.get("namespace"), uid=meta.get("uid"))

    def delete_patch(self, ctx: Context[SpecT], current: Object | None, desired: Object | None) -> Patch[Object]:
        if current is None:
            # Not in the cache: it may still exist (cache lag, or never watched); look it up once.
            manifest = self.manifest(ctx)
            if manifest is not None:
                meta = manifest["metadata"]
                current = ctx.client.get_or_none(self.kind, meta["name"], meta.get("namespace"))
        return Patch(delete=current)
