"""Reading the shared caches: the read-only view a resource gets from ``ctx.cache(kind)``, object keys, and the
index functions a controller declares (``Index``), controller-runtime's ``IndexField`` at declaration time."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from operatorkit._base.client import Object
    from operatorkit.kinds import Kind

IndexFunc = Callable[["Object"], Iterable[str]]


class CacheReader(Protocol):
    """A read-only view of one kind's cache. Objects are shared with every controller: never mutate them."""

    def get(self, key: str) -> Object | None: ...

    def get_by_name(self, name: str, namespace: str | None = None) -> Object | None: ...

    def objects(self) -> list[Object]: ...

    def all_keys(self) -> list[str]: ...

    def by_index(self, name: str, value: str) -> list[Object]:
        """Objects whose index ``name`` (declared with :class:`Index`, or ``"owner"``: owner uids) has ``value``."""
        ...

    def __len__(self) -> int: ...


@dataclass(frozen=True)
class Index:
    """A secondary index on a kind's cache, declared on the controller: ``Index(CERT_CONFIG, "cluster",
    by_field("spec", "clusterID"))`` lets resources and watch mappers call ``by_index("cluster", id)``."""

    kind: Kind
    name: str
    func: IndexFunc


def object_key(obj: Object) -> str:
    """``namespace/name`` for namespaced objects, ``name`` for cluster-scoped ones (client-go's key)."""
    meta = obj["metadata"]
    namespace = meta.get("namespace")
    return f"{namespace}/{meta['name']}" if namespace else str(meta["name"])


def split_key(key: str) -> tuple[str | None, str]:
    namespace, _, name = key.rpartition("/")
    return namespace or None, name


def by_owner_uid(obj: Object) -> list[str]:
    return [ref["uid"] for ref in obj["metadata"].get("ownerReferences", [])]


def by_label(label: str) -> IndexFunc:
    def index(obj: Object) -> list[str]:
        value = obj["metadata"].get("labels", {}).get(label)
        return [value] if value is not None else []

    return index


def by_field(*path: str) -> IndexFunc:
    """Index by a nested field, e.g. ``by_field("spec", "clusterID")``."""

    def index(obj: Object) -> list[str]:
        value: Any = obj
        for part in path:
            if not isinstance(value, dict) or part not in value:
                return []
            value = value[part]
        return [str(value)]

    return index
