"""The status every guest cluster's model starts from."""

from __future__ import annotations

import pydantic

from operatorkit import Status


class GuestClusterStatus(Status):
    """What every guest cluster's status says, whatever it runs on — the printer columns and ``kubectl kubeception
    get clusters`` read the same fields of every kind — and the field the kit writes (``kubeconfigSecret``). A
    guest-cluster operator's status model derives from it."""

    cluster_id: str | None = pydantic.Field(default=None, alias="clusterID")
    kubernetes_version: str | None = pydantic.Field(default=None, alias="kubernetesVersion")
    """The version the cluster runs (a hosted control plane's once every component rolled to it)."""
    endpoint: str | None = None
    """Where users reach the guest's API."""
    workers: str | None = None
    """``ready/desired`` workers of every pool, for the printer column."""
    kubeconfig_secret: str | None = pydantic.Field(default=None, alias="kubeconfigSecret")
    created_at: str | None = pydantic.Field(default=None, alias="createdAt")
