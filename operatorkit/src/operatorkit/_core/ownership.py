"""Never touch what you don't own: who owns an object or a piece of external state, and the refusal that says so.

A Kubernetes object belongs to a primary object when its controller ownerReference carries the primary's uid
(or, across scopes where an ownerReference is not allowed, its owner-uid label does). External state — a Vault
mount, an etcd key — records its owner as a *claim* written when the state was created (:class:`Owner`,
JSON). Anything else is refused with :class:`NotOwned`, whose message names the real owner. An existing object is
adopted only when whoever may write it says so: the :data:`~operatorkit.ADOPT_ANNOTATION` on that object naming
the one primary that may take it. A claim whose owner no longer exists may be taken over when the new primary
carries ``kubeception.io/adopt: orphaned``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from operatorkit._core.names import (
    ADOPT_ANNOTATION,
    OWNER_KIND_LABEL,
    OWNER_NAME_LABEL,
    OWNER_NAMESPACE_LABEL,
    OWNER_UID_LABEL,
)
from operatorkit._core.signals import ReconcileError

if TYPE_CHECKING:
    from operatorkit._base.client import Object
    from operatorkit.kinds import Kind

ADOPT_ORPHANED = "orphaned"


@dataclass(frozen=True)
class Owner:
    """The identity of a primary object: kind, namespace (None for cluster-scoped), name and uid."""

    kind: str
    namespace: str | None
    name: str
    uid: str

    @classmethod
    def of(cls, obj: Object) -> Owner:
        meta = obj["metadata"]
        return cls(str(obj.get("kind", "")), meta.get("namespace"), str(meta["name"]), str(meta.get("uid", "")))

    @property
    def path(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    def __str__(self) -> str:
        return f"{self.kind} {self.path}"

    def encode(self) -> str:
        """The claim text recorded in external state."""
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    def encode_tag(self) -> str:
        """The claim as ``kind/namespace/name/uid``: only letters, digits and ``-./``, which every cloud tag
        accepts (S3's and IAM's allow no braces or quotes, so the JSON of :meth:`encode` would be refused)."""
        return "/".join((self.kind, self.namespace or "", self.name, self.uid))

    @classmethod
    def decode(cls, text: str | None) -> Owner | None:
        """The owner recorded in ``text`` (a claim in either encoding), or None if there is none or it is not one."""
        try:
            data = json.loads(text or "")
            return cls(str(data["kind"]), data.get("namespace"), str(data["name"]), str(data["uid"]))
        except (ValueError, KeyError, TypeError):
            pass
        parts = (text or "").split("/")
        if len(parts) != 4 or not all((parts[0], parts[2], parts[3])):  # kind/namespace/name/uid
            return None
        kind, namespace, name, uid = parts
        return cls(kind, namespace or None, name, uid)


class NotOwned(ReconcileError):
    """Something this object would write or delete belongs to someone else (or to no one): left untouched.

    Retried with backoff: when the other owner lets go, the next attempt proceeds."""

    reason = "NotOwned"


def owner_of(obj: Object) -> Owner | None:
    """Who owns ``obj``: its controller ownerReference, else the owner labels; None when nothing claims it."""
    meta = obj["metadata"]
    for ref in meta.get("ownerReferences", []):
        if ref.get("controller"):
            return Owner(str(ref.get("kind")), meta.get("namespace"), str(ref.get("name")), str(ref.get("uid")))
    labels = meta.get("labels", {})
    if OWNER_UID_LABEL in labels and OWNER_NAME_LABEL in labels:
        return Owner(
            labels.get(OWNER_KIND_LABEL, "?"),
            labels.get(OWNER_NAMESPACE_LABEL),
            labels[OWNER_NAME_LABEL],
            labels[OWNER_UID_LABEL],
        )
    return None


def owned_by(obj: Object, primary: Object) -> bool:
    owner = owner_of(obj)
    return owner is not None and owner.uid == primary["metadata"].get("uid")


def adoption_allowed(obj: Object, primary: Object) -> bool:
    """Whether ``obj`` carries the adopt annotation naming ``primary``: ``Kind/namespace/name`` (``Kind/name`` for a
    cluster-scoped primary). The short ``Kind/name`` names a namespaced primary only on an object in its own
    namespace, where it is unambiguous: on a cluster-scoped object it would invite every namespace's ``name``."""
    wanted = obj["metadata"].get("annotations", {}).get(ADOPT_ANNOTATION)
    owner = Owner.of(primary)
    accepted = {f"{owner.kind}/{owner.path}"}
    if owner.namespace is None or obj["metadata"].get("namespace") == owner.namespace:
        accepted.add(f"{owner.kind}/{owner.name}")
    return wanted in accepted


def refusal(kind: Kind, obj: Object, primary: Object) -> NotOwned:
    """Why ``primary`` leaves ``obj`` alone, in words a person can act on: the object (kind, namespace, name), its
    real owner — or, when it has none, whether it can be handed over and by whom. The annotation it names is
    exactly what :func:`adoption_allowed` accepts, and the charts' admission policies let the operator take over an
    object that carries it. Whoever created a namespaced primary writes its namespace; anything else (another
    namespace, a cluster-scoped object) only a platform admin can hand over."""
    meta, me = obj["metadata"], Owner.of(primary)
    namespace, name = meta.get("namespace"), str(meta["name"])
    what = f"{kind.kind} {namespace}/{name}" if namespace else f"{kind.kind} {name}"
    owner = owner_of(obj)
    if owner is not None:
        return NotOwned(
            f"{what} belongs to {owner} (uid {owner.uid}), not to {me}; it is left untouched and is not handed "
            f"over while {owner} owns it"
        )
    where = f" -n {namespace}" if namespace else ""
    command = f"kubectl annotate {kind}{where} {name} {ADOPT_ANNOTATION}={me.kind}/{me.path}"
    if me.namespace is None or namespace == me.namespace:
        how = f"to hand it over to {me}, annotate it: {command}"
    else:
        scope = f"in namespace {namespace}" if namespace else "cluster-scoped"
        how = f"it is {scope}, not in {me.namespace}: only a platform admin can hand it over ({command}) or remove it"
    return NotOwned(f"{what} already exists and is not managed by {me}; it is left untouched ({how})")


def check_owned(kind: Kind, obj: Object, primary: Object) -> None:
    """Raise :class:`NotOwned` unless ``primary`` owns ``obj`` or ``obj`` invites ``primary`` to adopt it."""
    if not owned_by(obj, primary) and not adoption_allowed(obj, primary):
        raise refusal(kind, obj, primary)


def check_claim(recorded: str | None, what: str, primary: Object, *, owner_exists: bool) -> bool:
    """Check a claim recorded in external state before touching that state.

    True when ``primary`` holds the claim; False when nothing is claimed (the caller may claim it). Raises
    :class:`NotOwned` naming the holder otherwise — unless the holder no longer exists (``owner_exists``) and
    ``primary`` carries ``kubeception.io/adopt: orphaned``, in which case True: the caller re-records its claim.
    """
    holder = Owner.decode(recorded)
    me = Owner.of(primary)
    if recorded is None:
        return False
    if holder is not None and holder.uid == me.uid:
        return True
    if holder is None:
        raise NotOwned(f"{what} exists and was not created by kubeception; it is left untouched")
    if not owner_exists and primary["metadata"].get("annotations", {}).get(ADOPT_ANNOTATION) == ADOPT_ORPHANED:
        return True
    if not owner_exists:
        raise NotOwned(
            f"{what} belongs to {holder} (uid {holder.uid}), which no longer exists; it is left untouched "
            f"(to take it over, annotate {me} {ADOPT_ANNOTATION}={ADOPT_ORPHANED})"
        )
    raise NotOwned(f"{what} belongs to {holder} (uid {holder.uid}); it is left untouched while {holder} exists")


def owner_labels(primary: Object) -> dict[str, str]:
    """Labels that tie a dependent to ``primary`` where an ownerReference cannot (a cluster-scoped dependent of a
    namespaced owner); the controller maps them back to the owner's key, and ownership checks read the uid."""
    meta = primary["metadata"]
    labels = {
        OWNER_NAME_LABEL: meta["name"],
        OWNER_KIND_LABEL: str(primary.get("kind", "")),
        OWNER_UID_LABEL: meta["uid"],
    }
    if meta.get("namespace"):
        labels[OWNER_NAMESPACE_LABEL] = meta["namespace"]
    return labels


def with_owner(obj: Object, primary: Object, dependent_namespaced: bool) -> Object:
    """``obj`` tied to ``primary``: an ownerReference (garbage-collected with it), or — across scopes or
    namespaces, where an ownerReference is invalid (the garbage collector would look for the owner in the
    dependent's namespace, miss it and delete the dependent) — the owner labels, so its events still reconcile the
    primary."""
    meta: dict[str, Any] = dict(obj["metadata"])
    primary_meta = primary["metadata"]
    same_namespace = dependent_namespaced and meta.get("namespace") in (None, primary_meta.get("namespace"))
    if not primary_meta.get("namespace") or same_namespace:
        meta["ownerReferences"] = [
            {
                "apiVersion": primary["apiVersion"],
                "kind": primary["kind"],
                "name": primary_meta["name"],
                "uid": primary_meta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    else:
        meta["labels"] = {**meta.get("labels", {}), **owner_labels(primary)}
    return {**obj, "metadata": meta}
