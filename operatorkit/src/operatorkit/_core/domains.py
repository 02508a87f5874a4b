"""One owner for every name the platform routes or publishes: a cluster-scoped ``DomainClaim`` per domain.

A cluster that routes or publishes names (a KVMConfig's API hostname, an IngressConfig's routes, an AWSConfig's
DNS zone) first claims their **domain**: the name itself, or a wildcard's parent, or — under one of the platform's
base domains — the cluster's whole zone ``<cluster id>.<base>``. Holding a domain means holding it and every name
under it, so a zone and any name inside it are one clash when held by different clusters.

Two rules decide, before anything is claimed, what a cluster may ask for at all (:func:`check_domain`, pure):
names under a base domain belong to the cluster whose id is their first label below it (``x.aws.example.com``
is cluster ``x``'s whatever kind asks first, so nobody squats on a name of a cluster not made yet), and no domain
may hold a base domain (a cluster ``aws`` under ``example.com`` would otherwise hold ``aws.example.com``, the AWS
guests' domain). Cluster ids are unique across the mother already (the namespace ``<id>`` is the claim), so names
under base domains can never clash; the claims make that visible and cover the names outside them (a tenant's
own zone ``guest.example.org``).

**Atomic across operators.** The claim object is named after its domain, so two claims of one domain collide in
the API server (the second create is refused). Nested domains cannot collide by name, so a claim is made in two
steps: created ``Pending``, then the claims that could overlap it are listed (consistent reads from the API server)
and, when no other cluster's does, it is marked ``Held``; when one does, the new claim is deleted again and the
reconcile retried with backoff (a refused cluster's retries look first and make no claim while the other holds).
Of two overlapping claims racing, the later one's list always sees the earlier one (etcd is linearizable), so at
most one becomes ``Held``; a ``Held`` claim is never given up for a newcomer. A restarted operator finds its
``Pending`` claim and finishes the check; a claim is deleted only by its owner (uid-guarded), after whatever it
routed or published is gone.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, NamedTuple

from operatorkit._base.client import ApiError
from operatorkit._core.cache import Index, by_label
from operatorkit._core.context import SpecT, StatusT
from operatorkit._core.names import CLUSTER_LABEL, OWNER_KIND_LABEL, OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL, READY
from operatorkit._core.ownership import Owner, owned_by
from operatorkit._core.resource import Resource
from operatorkit._core.signals import ReconcileError, TerminalError
from operatorkit.kinds import Kind

if TYPE_CHECKING:
    from collections.abc import Iterable

    from operatorkit._base.client import Object
    from operatorkit._core.context import Context

DOMAIN_CLAIM = Kind("kubeception.io/v1alpha1", "DomainClaim", "domainclaims", namespaced=False)
PENDING, HELD = "Pending", "Held"
DOMAIN_CLAIM_INDEX = Index(DOMAIN_CLAIM, "domain-claims-of-cluster", by_label(CLUSTER_LABEL))
"""Declare it in a claiming controller's ``indexes``: a cluster's claims, found without a scan at release."""


class NameRefused(TerminalError):
    """A name the cluster may not use at all (under another cluster's part of a base domain, or holding a base
    domain): no retry until the spec changes. ``belongs_to``: the zone of the cluster it belongs to, if any."""

    reason = "NameRefused"

    def __init__(self, message: str, belongs_to: str | None = None) -> None:
        super().__init__(message)
        self.belongs_to = belongs_to


class NameClash(ReconcileError):
    """Another cluster holds (or is claiming right now) a domain overlapping this one; retried with backoff, as
    the other may let go."""

    reason = "NameClash"


# -- the policy (pure) -----------------------------------------------------------------------------------------------
def within(name: str, domain: str) -> bool:
    """Whether ``name`` is ``domain`` or lies under it."""
    return name == domain or name.endswith(f".{domain}")


def overlaps(a: str, b: str) -> bool:
    """Whether holding domain ``a`` and holding domain ``b`` cover a name in common."""
    return within(a, b) or within(b, a)


def domain_of(name: str) -> str:
    """The domain a routed or published name needs: a wildcard's parent (``*.c1.example.com`` → ``c1.example.com``,
    so the wildcard and an exact name under it are one clash), else the name itself."""
    return name.removeprefix("*.")


def base_of(domain: str, bases: Iterable[str]) -> str | None:
    """The deepest base domain ``domain`` lies strictly under, if any."""
    found = [base for base in bases if domain != base and within(domain, base)]
    return max(found, key=len) if found else None


def first_label(domain: str, base: str) -> str:
    """The label of ``domain`` right below ``base`` (``api.c1.example.com`` under ``example.com`` → ``c1``)."""
    return domain[: -len(base) - 1].rsplit(".", 1)[-1]


def check_domain(domain: str, cluster: str, bases: Iterable[str]) -> None:
    """Raise :class:`NameRefused` unless cluster ``cluster`` may hold ``domain`` at all."""
    bases = list(bases)
    for base in sorted(bases, key=lambda b: (b != domain, b)):
        if within(base, domain):
            what = "is" if base == domain else "would hold"
            raise NameRefused(
                f"{domain} {what} the base domain {base}, under which every cluster's names lie: no cluster may "
                "hold it (choose another cluster id or hostname)"
            )
    under = base_of(domain, bases)
    if under is not None and (label := first_label(domain, under)) != cluster:
        raise NameRefused(
            f"{domain} lies in {label}.{under}: names under {under} belong to the cluster whose id is their first "
            f"label there (cluster {label}), not to cluster {cluster}; use a name under {cluster}.{under}",
            belongs_to=f"{label}.{under}",
        )


def cluster_domain(name: str, bases: Iterable[str]) -> str:
    """The domain claimed for ``name``: under a base domain the whole zone ``<first label>.<base>`` (one claim for
    all of a cluster's names there), elsewhere :func:`domain_of` the name."""
    domain = domain_of(name)
    base = base_of(domain, bases)
    return f"{first_label(domain, base)}.{base}" if base is not None else domain


def minimal(domains: Iterable[str]) -> list[str]:
    """The domains without those lying under another of them (holding the outer one holds them already)."""
    unique = sorted(set(domains), key=lambda d: (d.count("."), d))
    kept: list[str] = []
    for domain in unique:
        if not any(within(domain, outer) for outer in kept):
            kept.append(domain)
    return sorted(kept)


def domains_for(names: Iterable[str], cluster: str, bases: Iterable[str]) -> list[str]:
    """What cluster ``cluster`` must hold to route or publish ``names``; raises :class:`NameRefused` for a name
    it may not use."""
    bases = list(bases)
    found = []
    for name in names:
        domain = cluster_domain(name, bases)
        check_domain(domain, cluster, bases)
        found.append(domain)
    return minimal(found)


# -- the claims ------------------------------------------------------------------------------------------------------
DOMAIN_LABEL = "kubeception.io/domain"
"""A hash of the claim's domain; with :data:`UNDER_PREFIX` labels, the claims that can overlap a domain are found
by two label-selected lists instead of reading every claim."""
UNDER_PREFIX = "under.kubeception.io/"
"""``under.kubeception.io/<hash of a domain>`` on a claim of every domain beneath that one."""


def domain_hash(domain: str) -> str:
    return hashlib.sha256(domain.encode()).hexdigest()[:20]


def ancestors(domain: str) -> list[str]:
    """The domains above ``domain``: ``a.b.c`` → ``b.c``, ``c``."""
    parts = domain.split(".")
    return [".".join(parts[i:]) for i in range(1, len(parts))]


def holder_of(obj: Object) -> str:
    """Whom a claim names, as a person reads it: ``cluster demo (KVMConfig team-blue/demo)``."""
    spec = obj.get("spec") or {}
    return f"cluster {spec.get('clusterID', '?')} ({spec.get('owner') or 'an unknown owner'})"


def describe_owner(primary: Object) -> str:
    """The object a tenant knows its cluster by: the primary itself, or — for a child another operator made (an
    IngressConfig of a KVMConfig) — the parent its owner labels name, with the child in brackets."""
    me = Owner.of(primary)
    labels = primary["metadata"].get("labels") or {}
    if OWNER_KIND_LABEL in labels and OWNER_NAME_LABEL in labels:
        parent = labels[OWNER_NAME_LABEL]
        if labels.get(OWNER_NAMESPACE_LABEL):
            parent = f"{labels[OWNER_NAMESPACE_LABEL]}/{parent}"
        return f"{labels[OWNER_KIND_LABEL]} {parent} (through {me})"
    return str(me)


def _manifest(domain: str, cluster: str, owner: str, labels: dict[str, str]) -> Object:
    return {
        "apiVersion": DOMAIN_CLAIM.api_version,
        "kind": DOMAIN_CLAIM.kind,
        "metadata": {
            "name": domain,
            "labels": {
                **labels,
                CLUSTER_LABEL: cluster,
                DOMAIN_LABEL: domain_hash(domain),
                **{f"{UNDER_PREFIX}{domain_hash(above)}": "" for above in ancestors(domain)},
            },
        },
        "spec": {"domain": domain, "clusterID": cluster, "owner": owner, "state": PENDING},
    }


def claim_names(
    ctx: Context[Any, Any], names: Iterable[str], *, cluster: str, bases: Iterable[str], labels: dict[str, str]
) -> list[str]:
    """Hold what cluster ``cluster`` needs to route or publish ``names`` (this primary's claims, carrying
    ``labels``) and return those domains; raise :class:`NameRefused` for a name it may not use and
    :class:`NameClash` when another cluster holds an overlapping domain — each naming the holder. The controller
    must own :data:`DOMAIN_CLAIM` and declare :data:`DOMAIN_CLAIM_INDEX` (its cache holds this operator's claims:
    a held claim costs no API call)."""
    try:
        domains = domains_for(names, cluster, bases)
    except NameRefused as exc:
        if exc.belongs_to is not None and (holder := ctx.lookup(DOMAIN_CLAIM, exc.belongs_to)) is not None:
            raise NameRefused(f"{exc}; {exc.belongs_to} is held by {holder_of(holder)}") from exc
        raise
    owner = describe_owner(ctx.obj)
    for domain in domains:
        _claim(ctx, domain, cluster, owner, labels)
    return domains


def _claim(ctx: Context[Any, Any], domain: str, cluster: str, owner: str, labels: dict[str, str]) -> None:
    current = ctx.cache(DOMAIN_CLAIM).get_by_name(domain)
    if current is None or not owned_by(current, ctx.obj):
        current = ctx.lookup(DOMAIN_CLAIM, domain)  # a label-selected cache does not hold other operators' claims
    if current is None:
        _refuse_rivals(ctx, domain, cluster, None)  # while refused, retries make no claim to delete again
        try:
            current = ctx.create(DOMAIN_CLAIM, _manifest(domain, cluster, owner, labels))
        except ApiError as exc:
            if not exc.already_exists:
                raise
            current = ctx.lookup(DOMAIN_CLAIM, domain)
            if current is None:
                raise NameClash(f"domain {domain}: a claim came and went; tried again") from exc
    spec = current.get("spec") or {}
    if not owned_by(current, ctx.obj):
        if spec.get("clusterID") == cluster:
            return  # the cluster's own claim, made by another of its objects (a KVMConfig for its IngressConfig)
        raise NameClash(_clash_message(domain, current))
    if spec.get("state") == HELD:
        return
    _refuse_rivals(ctx, domain, cluster, current)  # created (or found Pending after a restart): checked again
    held = ctx.client.patch(DOMAIN_CLAIM, domain, {"spec": {"state": HELD}}, field_manager=ctx.field_manager)
    ctx.remember(DOMAIN_CLAIM, {"apiVersion": DOMAIN_CLAIM.api_version, "kind": DOMAIN_CLAIM.kind, **held})


def _refuse_rivals(ctx: Context[Any, Any], domain: str, cluster: str, mine: Object | None) -> None:
    """Raise :class:`NameClash` when another cluster's claim overlaps ``domain``, after deleting ``mine`` (this
    primary's Pending claim) so that it gives way."""
    uid = mine["metadata"].get("uid") if mine is not None else None
    rivals = [
        other
        for other in _overlapping(ctx, domain)
        if other["metadata"].get("uid") != uid
        and (other.get("spec") or {}).get("clusterID") != cluster
        and overlaps((other.get("spec") or {}).get("domain", ""), domain)
    ]
    if not rivals:
        return
    if mine is not None:
        ctx.client.delete(DOMAIN_CLAIM, domain, uid=uid)  # give way; claimed again later
    rival = min(rivals, key=lambda o: (o["spec"].get("state") != HELD, o["metadata"]["name"]))
    raise NameClash(_clash_message(domain, rival))


def _overlapping(ctx: Context[Any, Any], domain: str) -> list[Object]:
    """Every claim of ``domain``, of a domain above it or beneath it — consistent reads from the API server, so
    each claim made before this one's is among them."""
    hashes = ",".join(domain_hash(d) for d in [domain, *ancestors(domain)])
    above = ctx.client.list(DOMAIN_CLAIM, label_selector=f"{DOMAIN_LABEL} in ({hashes})")["items"]
    below = ctx.client.list(DOMAIN_CLAIM, label_selector=f"{UNDER_PREFIX}{domain_hash(domain)}")["items"]
    return [*above, *below]


def _clash_message(domain: str, other: Object) -> str:
    spec = other.get("spec") or {}
    held = spec.get("domain", other["metadata"]["name"])
    where = f"domain {domain}" if held == domain else f"domain {domain} overlaps {held}, which"
    if spec.get("state") == HELD:
        return f"{where} is held by {holder_of(other)}; it is left to its owner"
    return f"{where} is being claimed by {holder_of(other)} at this moment; tried again"


def release_domains(ctx: Context[Any, Any], cluster: str, keep: Iterable[str] = ()) -> None:
    """Delete this primary's claims (of cluster ``cluster``) but those on ``keep`` — uid-guarded: never another's
    (the other objects of its cluster hold theirs)."""
    kept = set(keep)
    for claim in ctx.cache(DOMAIN_CLAIM).by_index(DOMAIN_CLAIM_INDEX.name, cluster):
        meta = claim["metadata"]
        if meta["name"] not in kept and owned_by(claim, ctx.obj) and not meta.get("deletionTimestamp"):
            ctx.client.delete(DOMAIN_CLAIM, meta["name"], uid=meta["uid"])


class Claim(NamedTuple):
    """What a :class:`NameClaim` holds: ``names`` for cluster ``cluster`` (under the platform's ``bases``), its
    claims carrying ``labels``; ``subject`` is how a refusal's condition names what was refused."""

    subject: str
    names: list[str]
    cluster: str
    bases: Iterable[str]
    labels: dict[str, str]


class NameClaim(Resource[SpecT, StatusT]):
    """Claim-before-create as a step: placed before every step that routes or publishes the names, it claims them
    (:func:`claim_names`) before any of those runs, and — deletion going in reverse — gives them back
    (:func:`release_domains`) after all of them are gone. A name the cluster may not use, or one another cluster
    holds, stops the reconcile here with ``Ready=False`` naming the holder. Subclasses say what: :meth:`claim`.
    The primary is named after its cluster id (the claims are released by ``ctx.name``, which needs no spec)."""

    def claim(self, ctx: Context[SpecT, StatusT]) -> Claim:
        raise NotImplementedError

    def ensure_created(self, ctx: Context[SpecT, StatusT]) -> None:
        claim = self.claim(ctx)
        try:
            claim_names(ctx, claim.names, cluster=claim.cluster, bases=claim.bases, labels=claim.labels)
        except (NameRefused, NameClash) as exc:
            ctx.set_condition(READY, "False", exc.reason, f"{claim.subject}: {exc}")
            raise

    def ensure_deleted(self, ctx: Context[SpecT, StatusT]) -> None:
        release_domains(ctx, ctx.name)
