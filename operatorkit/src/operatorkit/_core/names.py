"""Names every kubeception operator shares: conditions, labels, annotations. Operator-specific derived names
(namespaces, mounts, Secrets) live in each operator's ``key`` module; these are the ones they have in common."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

READY = "Ready"
"""The condition every controller sets: True only when what it checked is really there."""

CLUSTER_LABEL = "kubeception.io/cluster"
"""The guest cluster an object belongs to (its cluster id)."""

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
"""Which operator manages an object; informers of owned kinds select on it, admission policies check it."""

OWNER_NAME_LABEL = "kubeception.io/owner-name"
OWNER_NAMESPACE_LABEL = "kubeception.io/owner-namespace"
OWNER_UID_LABEL = "kubeception.io/owner-uid"
OWNER_KIND_LABEL = "kubeception.io/owner-kind"
"""Tie a cluster-scoped dependent to a namespaced owner, where an ownerReference is not allowed."""

PAUSED_ANNOTATION = "kubeception.io/paused"
"""``"true"`` on a primary object: its controller leaves it alone (deletion waits too)."""

ADOPT_ANNOTATION = "kubeception.io/adopt"
"""On an existing object: ``<Kind>/<name>`` (or ``<Kind>/<namespace>/<name>``) of the one primary object that may
take it over. Set by whoever may write the object, so creating a primary object never grants adoption."""


def managed_by(operator: str) -> dict[str, str]:
    """The managed-by label of ``operator``'s objects."""
    return {MANAGED_BY_LABEL: operator}


def selector(labels: Mapping[str, str]) -> str:
    """A label selector matching all of ``labels`` (``k=v,k=v``)."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
