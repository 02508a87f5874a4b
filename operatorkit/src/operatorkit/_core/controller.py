"""A controller, declared: one primary kind, an ordered list of resources, and everything it watches — owned
kinds, mapped watches, cache indexes — stated up front (controller-runtime's builder: ``Owns``, ``Watches``,
``IndexField``). The operator (:func:`operatorkit.run`) wires and runs it; nothing is attached later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic

from operatorkit._core.context import SpecT, StatusT
from operatorkit._core.names import READY

if TYPE_CHECKING:
    import pydantic

    from operatorkit._base.client import Object
    from operatorkit._core.cache import CacheReader, Index
    from operatorkit._core.resource import Resource
    from operatorkit._core.status import Status
    from operatorkit.kinds import Kind

Mapper = Callable[["Object", "CacheReader"], Iterable[str]]
"""Maps a watched object to keys of primary objects; gets the primary kind's cache to look them up."""


@dataclass(frozen=True)
class Watch:
    """Reconcile primary objects when objects of ``kind`` change: ``mapper(obj, primary_cache)`` says which.
    ``selector`` (a label selector) narrows what is watched and cached, e.g. to the operator's own pods."""

    kind: Kind
    mapper: Mapper
    selector: str | None = None


@dataclass
class Controller(Generic[SpecT, StatusT]):
    """What to reconcile and how.

    ``spec_model`` (a pydantic model) validates ``.spec``: resources see the model as ``ctx.spec``, and an
    invalid spec is a condition, never a crash. ``status_model`` checks every status before it is written and
    types ``ctx.recorded`` and ``ctx.status`` (:class:`~operatorkit.Status` without one). ``owns``
    lists kinds whose objects point back at the primary object (ownerReference, or owner labels across scopes):
    their changes reconcile the owner, and resources read them with ``ctx.cache(kind)``; ``owned_selector`` narrows
    those caches to this operator's objects.

    ``workers`` and ``resync_period`` default to the operator's settings; set them only to override.
    """

    name: str
    kind: Kind
    resources: Sequence[Resource[SpecT, StatusT]]
    spec_model: type[pydantic.BaseModel] | None = None
    status_model: type[Status] | None = None
    owns: Sequence[Kind] = ()
    owned_selector: str | None = None
    watches: Sequence[Watch] = ()
    indexes: Sequence[Index] = ()
    workers: int | None = None
    resync_period: float | None = None
    backoff_base: float | None = None
    backoff_cap: float | None = None
    finalizer: str = ""
    ready_condition: str | None = READY
    before_start: Callable[[Sequence[Object]], None] | None = None
    """Called with every cached primary object once caches are synced, before the first reconcile (e.g. to
    rebuild an allocation table from recorded statuses)."""
    deletion_spec: Callable[[Object], SpecT] | None = None
    """The spec deletion reads (``ctx.spec``) when the stored one no longer validates — a spec changed after
    creation into one the model refuses, or a model tightened by an upgrade: built from the object's name (and
    status), it gives the names of what to delete. Without it such a deletion stops at ``InvalidSpec``."""

    def __post_init__(self) -> None:
        self.finalizer = self.finalizer or f"kubeception.io/{self.name}"
        names = [resource.name for resource in self.resources]
        if len(names) != len(set(names)):
            raise ValueError(f"controller {self.name}: resource names must be unique, got {names}")

    @property
    def uses_finalizer(self) -> bool:
        """A finalizer costs a write per object and blocks deletion: only when a resource needs it."""
        return any(resource.needs_finalizer(self.kind) for resource in self.resources)

    @property
    def watched_kinds(self) -> list[Kind]:
        """Every kind this controller reads: its own, the owned ones, the watched ones."""
        return [self.kind, *self.owns, *(watch.kind for watch in self.watches)]
