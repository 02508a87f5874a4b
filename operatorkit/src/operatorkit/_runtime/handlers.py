"""Event handlers: how informer events become keys in a controller's queue (controller-runtime's handler and
predicate packages). Each handler records which controller it feeds (``owner``), so that a controller's own
writes, put into the cache by write-through, do not wake that controller again."""

from __future__ import annotations

from typing import TYPE_CHECKING

from operatorkit._core.cache import object_key
from operatorkit._core.names import OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL

if TYPE_CHECKING:
    from collections.abc import Callable

    from operatorkit._base.client import Object
    from operatorkit._core.cache import CacheReader
    from operatorkit._core.controller import Mapper
    from operatorkit._runtime.workqueue import WorkQueue
    from operatorkit.kinds import Kind

_WATCHED_METADATA = ("generation", "labels", "annotations", "deletionTimestamp", "ownerReferences")


def meaningful_change(old: Object, new: Object) -> bool:
    """Whether an update of a primary object needs a reconcile: spec (generation), labels, annotations,
    deletion or owners changed. Status and bookkeeping (finalizers, managedFields) are the controller's own
    writes; reacting to them would reconcile every object twice and defeat the backoff.
    """
    before, after = old.get("metadata", {}), new.get("metadata", {})
    return any(before.get(field) != after.get(field) for field in _WATCHED_METADATA)


class PrimaryHandler:
    """Events of the primary kind: adds, deletes, and meaningful updates."""

    def __init__(self, queue: WorkQueue, owner: object) -> None:
        self.queue = queue
        self.owner = owner

    def on_add(self, obj: Object) -> None:
        self.queue.add(object_key(obj))

    def on_update(self, old: Object, new: Object) -> None:
        if meaningful_change(old, new):
            self.queue.add(object_key(new))

    def on_delete(self, obj: Object) -> None:
        self.queue.add(object_key(obj))


class MappedHandler:
    """Events of a dependent or watched kind, mapped to primary keys; every event counts (a dependent's status
    is what the owner waits for)."""

    def __init__(self, keys: Callable[[Object], list[str]], queue: WorkQueue, owner: object) -> None:
        self.keys = keys
        self.queue = queue
        self.owner = owner

    def _enqueue(self, obj: Object) -> None:
        for key in self.keys(obj):
            self.queue.add(key)

    def on_add(self, obj: Object) -> None:
        self._enqueue(obj)

    def on_update(self, old: Object, new: Object) -> None:
        self._enqueue(new)

    def on_delete(self, obj: Object) -> None:
        self._enqueue(obj)


def owner_keys(primary: Kind) -> Callable[[Object], list[str]]:
    """The keys of the ``primary`` objects an object belongs to (ownerReference, or owner labels)."""

    def keys(obj: Object) -> list[str]:
        meta, found = obj["metadata"], []
        for ref in meta.get("ownerReferences", []):
            if ref.get("kind") == primary.kind and ref.get("apiVersion") == primary.api_version:
                namespace = meta.get("namespace") if primary.namespaced else None
                found.append(f"{namespace}/{ref['name']}" if namespace else ref["name"])
        labels = meta.get("labels", {})
        if (owner := labels.get(OWNER_NAME_LABEL)) is not None:
            namespace = labels.get(OWNER_NAMESPACE_LABEL)
            found.append(f"{namespace}/{owner}" if namespace else owner)
        return found

    return keys


def mapped_keys(mapper: Mapper, primary_cache: CacheReader) -> Callable[[Object], list[str]]:
    """A declared watch mapper, bound to the primary kind's cache."""

    def keys(obj: Object) -> list[str]:
        return list(mapper(obj, primary_cache))

    return keys
