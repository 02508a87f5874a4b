"""What a resource sees during one reconcile: the object, its validated spec, a mutable status, and helpers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from operatorkit.client import ApiError
from operatorkit.conditions import ConditionStatus, set_condition

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable

    from operatorkit.client import KubeClient, Object
    from operatorkit.events import EventRecorder, EventType
    from operatorkit.informer import Store
    from operatorkit.kinds import Kind

SpecT = TypeVar("SpecT")

OWNER_NAME_LABEL = "kubeception.io/owner-name"
OWNER_NAMESPACE_LABEL = "kubeception.io/owner-namespace"


def owner_labels(owner: Object) -> dict[str, str]:
    """Labels that tie a dependent to ``owner`` where an ownerReference cannot (a cluster-scoped dependent of a
    namespaced owner); the controller maps them back to the owner's key."""
    meta = owner["metadata"]
    labels = {OWNER_NAME_LABEL: meta["name"]}
    if meta.get("namespace"):
        labels[OWNER_NAMESPACE_LABEL] = meta["namespace"]
    return labels


class Context(Generic[SpecT]):
    """One reconcile of one object. Status changes are collected and written once, only if they differ."""

    def __init__(
        self,
        *,
        obj: Object,
        spec: SpecT,
        client: KubeClient,
        log: logging.LoggerAdapter[Any],
        field_manager: str,
        events: EventRecorder,
        stores: dict[Kind, Store],
        deleting: bool,
        remember: Callable[[Kind, Object], None] | None = None,
    ) -> None:
        self.obj = obj
        self.spec = spec
        self.client = client
        self.log = log
        self.field_manager = field_manager
        self.deleting = deleting
        # A JSON round trip copies plain API data several times faster than copy.deepcopy.
        self.status: dict[str, Any] = json.loads(json.dumps(obj.get("status") or {}))
        self._events = events
        self._stores = stores
        self._remember = remember
        self.requeue_delay: float | None = None
        self.finalizer_kept: str | None = None
        self.conditions_set: set[str] = set()

    # -- identity ----------------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def namespace(self) -> str | None:
        namespace: str | None = self.obj["metadata"].get("namespace")
        return namespace

    @property
    def generation(self) -> int:
        return int(self.obj["metadata"].get("generation", 0))

    def owner_reference(self) -> dict[str, Any]:
        """An ownerReference to this object (controller, blocking deletion) for dependents it creates."""
        meta = self.obj["metadata"]
        return {
            "apiVersion": self.obj["apiVersion"],
            "kind": self.obj["kind"],
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }

    # -- flags -------------------------------------------------------------------------------------------------
    def requeue_after(self, delay: float) -> None:
        """Run this object again after ``delay`` seconds (the earliest request of a loop wins)."""
        self.requeue_delay = delay if self.requeue_delay is None else min(self.requeue_delay, delay)

    def keep_finalizer(self, reason: str) -> None:
        """During deletion: keep the finalizer, so deletion is replayed (e.g. dependents still exist)."""
        self.finalizer_kept = reason

    # -- status and events -------------------------------------------------------------------------------------
    def set_condition(self, type_: str, status: ConditionStatus, reason: str, message: str = "") -> None:
        conditions = self.status.setdefault("conditions", [])
        set_condition(conditions, type_, status, reason, message, self.generation)
        self.conditions_set.add(type_)

    def event(self, type_: EventType, reason: str, message: str) -> None:
        self._events.record(self.obj, type_, reason, message)

    # -- reading and writing dependents ------------------------------------------------------------------------
    def cache(self, kind: Kind) -> Store:
        """The shared cache of a kind the controller watches (``owns`` / ``watches``)."""
        try:
            return self._stores[kind]
        except KeyError:
            raise KeyError(f"{kind} is not watched by this controller; add it to owns=") from None

    def apply(self, kind: Kind, obj: Object, *, owned: bool = True) -> Object:
        """Server-side apply ``obj`` with this operator's field manager, owned by this object (see :meth:`own`)."""
        result = self.client.apply(kind, self.own(kind, obj) if owned else obj, field_manager=self.field_manager)
        self.remember(kind, result)
        return result

    def create(self, kind: Kind, obj: Object, *, owned: bool = True) -> Object:
        """Create ``obj`` (POST, this operator as field manager), owned by this object (see :meth:`own`)."""
        result = self.client.create(kind, self.own(kind, obj) if owned else obj, field_manager=self.field_manager)
        self.remember(kind, result)
        return result

    def create_or_apply(self, kind: Kind, obj: Object, *, owned: bool = True) -> Object:
        """Create ``obj`` when the cache has not seen it — a POST costs the API server a fraction of a server-side
        apply (about 0.4 ms of CPU against 3 ms, measured in bench/) — else, or when the POST finds it exists after
        all, apply it (apply then takes over the fields it sets)."""
        meta, store = obj["metadata"], self._stores.get(kind)  # a kind not watched here: try the POST
        if store is None or store.get_by_name(meta["name"], meta.get("namespace")) is None:
            try:
                return self.create(kind, obj, owned=owned)
            except ApiError as exc:
                if not exc.already_exists:
                    raise
        return self.apply(kind, obj, owned=owned)

    def remember(self, kind: Kind, obj: Object) -> None:
        """Put the answer of a write into the cache (write-through): other controllers hear of it at once and
        this one is not woken again by its watch echo."""
        if self._remember is not None:
            self._remember(kind, obj)
        elif (store := self._stores.get(kind)) is not None:
            store.remember(obj)

    def own(self, kind: Kind, obj: Object) -> Object:
        """``obj`` tied to this object: an ownerReference (garbage-collected with it), or — across scopes,
        where an ownerReference is invalid — the owner labels, so its events still reconcile this object."""
        meta = dict(obj["metadata"])
        if not self.namespace or kind.namespaced:
            meta["ownerReferences"] = [self.owner_reference()]
        else:
            meta["labels"] = {**meta.get("labels", {}), **owner_labels(self.obj)}
        return {**obj, "metadata": meta}
