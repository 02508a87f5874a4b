"""Which CA a GuestCredentialRequest is signed by: the cluster is a KVMConfig or AWSConfig **in the request's own
namespace** (its organization), and its CA — the CAConfig that cluster owns — is Ready.

Cluster ids are unique across the mother, so a request naming another organization's cluster would otherwise reach
that cluster's CA: it is read by name in the request's namespace only, and a cluster elsewhere reads exactly like
one that does not exist (nothing of it is revealed). A CA that is not Ready yet is waited for: its CAConfig
becoming Ready wakes the request (indexed by ``status.clusterID``), with a slow requeue as a backstop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cert_operator.resources.guest import owned_ca, ready_ca
from cert_operator.spec import CLUSTER_KINDS
from operatorkit import CancelReconcile, TerminalError

if TYPE_CHECKING:
    from cert_operator.resources.guest import GuestCA
    from cert_operator.spec import GuestContext
    from operatorkit import Object

CA_RECHECK = 60.0
"""Seconds between checks of a CA that is not Ready (its CAConfig's changes wake the request sooner)."""


def find_cluster(ctx: GuestContext) -> Object | None:
    """The KVMConfig or AWSConfig named ``spec.cluster`` in the request's namespace (a GET each, nothing listed)."""
    for kind in CLUSTER_KINDS:
        found = ctx.client.get_or_none(kind, ctx.spec.cluster, ctx.namespace)
        if found is not None:
            return {"apiVersion": kind.api_version, "kind": kind.kind, **found}
    return None


def cluster_ca(ctx: GuestContext) -> tuple[str, GuestCA]:
    """The cluster's id and Ready CA; a missing cluster is refused (terminal: the spec cannot change), a CA that is
    not Ready ends the reconcile with a condition until it is."""
    cluster = find_cluster(ctx)
    if cluster is None or cluster["metadata"].get("deletionTimestamp"):
        raise TerminalError(
            f"no cluster {ctx.spec.cluster} in namespace {ctx.namespace}: a credential is for a KVMConfig or "
            "AWSConfig of the request's own organization (make a new request once it exists)",
            reason="ClusterNotFound",
        )
    cluster_id = str((cluster.get("spec") or {}).get("clusterID") or "")
    configs = owned_ca(ctx, cluster, cluster_id) if cluster_id else []
    ca = ready_ca(configs, cluster_id)
    if ca is None:
        if cluster_id:
            ctx.status.cluster_id = cluster_id
        why = "no CAConfig yet" if not configs else "its CAConfig is not Ready"
        ctx.set_condition("Issued", "False", "CANotReady", f"cluster {ctx.spec.cluster}'s CA: {why}; waiting")
        ctx.requeue_after(CA_RECHECK)
        raise CancelReconcile
    return cluster_id, ca
