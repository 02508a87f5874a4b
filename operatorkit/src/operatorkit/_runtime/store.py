"""The cache behind an informer: a thread-safe map of key → object with secondary indices."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import TYPE_CHECKING

from operatorkit._core.cache import by_owner_uid, object_key

if TYPE_CHECKING:
    from operatorkit._base.client import Object
    from operatorkit._core.cache import IndexFunc


class Store:
    """A thread-safe map of key → object with secondary indices."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._items: dict[str, Object] = {}
        self._indexers: dict[str, IndexFunc] = {"owner": by_owner_uid}
        self._indices: dict[str, defaultdict[str, set[str]]] = {"owner": defaultdict(set)}

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        with self._lock:
            if name in self._indexers:
                return
            self._indexers[name] = func
            index: defaultdict[str, set[str]] = defaultdict(set)
            self._indices[name] = index
            for key, obj in self._items.items():
                for value in func(obj):
                    index[value].add(key)

    def get(self, key: str) -> Object | None:
        with self._lock:
            return self._items.get(key)

    def get_by_name(self, name: str, namespace: str | None = None) -> Object | None:
        return self.get(f"{namespace}/{name}" if namespace else name)

    def objects(self) -> list[Object]:
        with self._lock:
            return list(self._items.values())

    def all_keys(self) -> list[str]:
        with self._lock:
            return list(self._items)

    def by_index(self, name: str, value: str) -> list[Object]:
        with self._lock:
            return [self._items[key] for key in self._indices[name].get(value, ())]

    def __len__(self) -> int:
        return len(self._items)

    def _index(self, key: str, obj: Object, add: bool) -> None:
        for name, func in self._indexers.items():
            index = self._indices[name]
            for value in func(obj):
                if add:
                    index[value].add(key)
                else:
                    index[value].discard(key)
                    if not index[value]:
                        del index[value]

    def remember(self, obj: Object) -> bool:
        """Write-through after our own write: store ``obj`` unless the cache already holds a newer version.

        The watch echo of this version is then not dispatched again (see :meth:`Informer._handle`).
        """
        key = object_key(obj)
        with self._lock:
            old = self._items.get(key)
            if old is not None and not is_newer(obj, old):
                return False
            self.upsert(obj)
            return True

    def upsert(self, obj: Object) -> Object | None:
        key = object_key(obj)
        with self._lock:
            old = self._items.get(key)
            if old is not None:
                self._index(key, old, add=False)
            self._items[key] = obj
            self._index(key, obj, add=True)
            return old

    def delete(self, key: str) -> Object | None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._index(key, old, add=False)
            return old


def _resource_version(obj: Object) -> int | None:
    try:
        return int(obj["metadata"]["resourceVersion"])
    except (KeyError, TypeError, ValueError):
        return None


def is_newer(obj: Object, than: Object) -> bool:
    """resourceVersions are etcd revisions here; if either is not an integer, treat ``obj`` as newer."""
    new, old = _resource_version(obj), _resource_version(than)
    return new is None or old is None or new > old
