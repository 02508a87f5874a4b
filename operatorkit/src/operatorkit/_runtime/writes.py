"""The controller's own writes to its primary object: the finalizer (resourceVersion-guarded, like Giant Swarm's
operatorkit) and the status (through the status subresource, only when it changed). Every answer goes into the
cache at once (write-through)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from operatorkit._base.client import ApiError
from operatorkit._core.cache import object_key

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from operatorkit._base.client import KubeClient, Object
    from operatorkit._core.context import Context
    from operatorkit.kinds import Kind

_RECHECKED = ("generation", "labels", "annotations", "deletionTimestamp")


def merge_patch(original: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The RFC 7386 merge patch that turns ``original`` into ``desired``: changed keys, and removed keys as null
    at every depth — a key popped from a nested mapping must go from the stored object too, or it comes back on
    the next read. A key set to None that the original does not have is left out (the server stores no null, so
    it would be sent again on every pass). Lists are replaced whole, as merge patches do."""
    patch: dict[str, Any] = {removed: None for removed in original if removed not in desired}
    for name, value in desired.items():
        before = original.get(name)
        if isinstance(value, dict) and isinstance(before, dict):
            if nested := merge_patch(before, value):
                patch[name] = nested
        elif name not in original:
            if value is not None:  # null means absent, and it is: no write for nothing
                patch[name] = value
        elif before != value:
            patch[name] = value
    return patch


class PrimaryWriter:
    def __init__(
        self,
        client: KubeClient,
        kind: Kind,
        finalizer: str,
        remember: Callable[[Kind, Object], None],
        requeue: Callable[[str], None],
    ) -> None:
        self.client = client
        self.kind = kind
        self.finalizer = finalizer
        self._remember = remember
        self._requeue = requeue

    def add_finalizer(self, ctx: Context[Any, Any]) -> None:
        meta = ctx.obj["metadata"]
        finalizers = meta.get("finalizers", [])
        if self.finalizer in finalizers:
            return
        patch = {"metadata": {"finalizers": [*finalizers, self.finalizer], "resourceVersion": meta["resourceVersion"]}}
        updated = self.client.patch(self.kind, meta["name"], patch, meta.get("namespace"))
        self._written(ctx, updated)
        ctx.obj = {**ctx.obj, "metadata": updated["metadata"]}

    def remove_finalizer(self, ctx: Context[Any, Any]) -> None:
        meta = ctx.obj["metadata"]
        remaining = [f for f in meta.get("finalizers", []) if f != self.finalizer]
        patch = {"metadata": {"finalizers": remaining, "resourceVersion": meta["resourceVersion"]}}
        try:
            self.client.patch(self.kind, meta["name"], patch, meta.get("namespace"))
        except ApiError as exc:
            if not exc.not_found:
                raise

    def write_status(self, ctx: Context[Any, Any], desired: dict[str, Any]) -> Object | None:
        """Write ``desired`` (``ctx.desired_status()``) if it differs from what is stored, as a merge patch of what
        changed; the object as written (None when nothing was)."""
        if ctx.deleting and ctx.finalizer_kept is None:
            return None  # the finalizer is gone; the object may be too
        original = ctx.obj.get("status") or {}
        if desired == original or not (patch := merge_patch(original, desired)):
            return None
        meta = ctx.obj["metadata"]
        try:
            written = self.client.patch(
                self.kind, meta["name"], {"status": patch}, meta.get("namespace"), subresource="status"
            )
        except ApiError as exc:
            if exc.not_found:
                return None
            raise
        self._written(ctx, written)
        return written

    def _written(self, ctx: Context[Any, Any], written: Object) -> None:
        """Write-through of our own write; if someone else changed what we reconciled meanwhile, go again."""
        self._remember(self.kind, written)
        before, after = ctx.obj["metadata"], written["metadata"]
        if any(before.get(f) != after.get(f) for f in _RECHECKED):
            self._requeue(object_key(written))
