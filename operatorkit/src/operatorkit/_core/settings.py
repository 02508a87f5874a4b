"""Operator settings: one typed model, from which the command line and the environment are generated
(pydantic-settings). Every default lives here, once; each field says why it exists (kopf's ``OperatorSettings``).

An operator extends :class:`OperatorSettings` with its own fields (grouped in nested models, which become flag
groups such as ``--vault.address``) and names itself::

    class FlannelSettings(OperatorSettings):
        model_config = operator_config("flannel-operator")
        etcd: EtcdSettings
        ...

Flags are kebab-case (``--leader-election.lease-duration``); every field can also come from the environment with
the operator's prefix (``FLANNEL_OPERATOR_WORKERS=8``, nested ones with ``__``). A few settings also read the
variable Kubernetes tooling already uses: ``KUBECONFIG``, ``WATCH_NAMESPACE``, ``POD_NAMESPACE``.
"""

from __future__ import annotations

import os
from typing import Literal

import pydantic
from pydantic_settings import BaseSettings, SettingsConfigDict

from operatorkit._core.vocabulary import SettingsGroup


class LeaderElectionSettings(SettingsGroup):
    """Leader election on a Lease: every replica keeps warm caches, only the leader reconciles."""

    enabled: bool = True
    """Run leader election. Turn it off only when a single replica runs (tests, local runs)."""
    namespace: str = pydantic.Field(default_factory=lambda: os.environ.get("POD_NAMESPACE") or "default")
    """Namespace of the Lease; in a pod, its own namespace (POD_NAMESPACE from the downward API)."""
    id: str | None = None
    """Name of the Lease (default: <operator>-leader). Replicas with the same id share one leader."""
    lease_duration: float = pydantic.Field(default=15.0, gt=0)
    """Seconds a standby waits after the last renewal before taking over (client-go's default)."""
    renew_deadline: float = pydantic.Field(default=10.0, gt=0)
    """Seconds the leader may fail to renew before it stops reconciling; shorter than the lease, so a leader
    always stops before a standby can start."""
    retry_period: float = pydantic.Field(default=2.0, gt=0)
    """Seconds between attempts to acquire or renew."""

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> LeaderElectionSettings:
        if not self.lease_duration > self.renew_deadline > self.retry_period:
            raise ValueError("need lease-duration > renew-deadline > retry-period")
        return self


class HTTPSettings(SettingsGroup):
    """The HTTP endpoints; an empty address turns one off."""

    metrics_address: str = ":8080"
    """host:port of /metrics (controller-runtime's metric names)."""
    probe_address: str = ":8081"
    """host:port of /healthz (no stalled watch) and /readyz (caches synced). May equal the metrics address."""


class ReconcileSettings(SettingsGroup):
    """How hard one object may be worked on: retries back off, and no object is reconciled faster than a floor."""

    backoff_base: float = pydantic.Field(default=0.005, gt=0)
    """Seconds before the first retry of a failed reconcile; doubles with every failure (controller-runtime's)."""
    backoff_cap: float = pydantic.Field(default=1000.0, gt=0)
    """Longest wait between retries of one object."""
    object_rate: float = pydantic.Field(default=0.5, gt=0)
    """Sustained reconciles per second of one object. Whatever asks for more (requeues, events of the operator's
    own writes, a fight with another controller) is held back and counted in operatorkit_reconcile_throttled_total,
    so a loop is bounded and visible."""
    object_burst: int = pydantic.Field(default=10, ge=1)
    """Reconciles one object may have in quick succession before object-rate applies (a create and its children's
    events come in a burst)."""


class WatchSettings(SettingsGroup):
    """The shared informers."""

    inactivity_timeout: float = pydantic.Field(default=180.0, gt=0)
    """Seconds without an event or bookmark before a watch is torn down and resumed; the API server sends a
    bookmark about every minute, so silence beyond that means a broken connection."""


def operator_config(name: str) -> SettingsConfigDict:
    """The settings configuration of the operator ``name``: its program name and its environment prefix."""
    return SettingsConfigDict(cli_prog_name=name, env_prefix=name.upper().replace("-", "_") + "_")


class OperatorSettings(BaseSettings):
    """What every operator can be told. Subclass it and set ``model_config = operator_config("<name>")``."""

    model_config = SettingsConfigDict(
        cli_prog_name="operator",
        cli_kebab_case=True,
        cli_implicit_flags=True,
        cli_hide_none_type=True,
        cli_avoid_json=True,
        cli_use_class_docs_for_groups=True,
        cli_exit_on_error=True,
        env_nested_delimiter="__",
        use_attribute_docstrings=True,
        extra="forbid",
        frozen=True,
    )

    kubeconfig: str | None = pydantic.Field(
        default=None, validation_alias=pydantic.AliasChoices("kubeconfig", "KUBECONFIG")
    )
    """kubeconfig file; without one, the pod's in-cluster configuration."""
    namespace: str | None = pydantic.Field(
        default=None, validation_alias=pydantic.AliasChoices("namespace", "WATCH_NAMESPACE")
    )
    """Watch one namespace only (the chart's watchNamespace); all namespaces when unset."""
    selector: str | None = None
    """Label selector for the primary objects: run shards, or two operator versions side by side."""
    workers: int = pydantic.Field(default=4, ge=1, le=256)
    """Concurrent reconciles per controller; one object is never reconciled by two workers at once."""
    resync_period: float = pydantic.Field(default=10 * 3600.0, gt=0)
    """Seconds between full resyncs (jittered); a resync of unchanged objects writes nothing, it only catches
    drift that no event reported."""
    shutdown_timeout: float = pydantic.Field(default=30.0, gt=3)
    """Seconds SIGTERM waits for running reconciles before the lease is released (kubelet's grace period)."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"
    """JSON lines carry controller, object, reconcileID and resource."""
    leader_election: LeaderElectionSettings = LeaderElectionSettings()
    http: HTTPSettings = HTTPSettings()
    reconcile: ReconcileSettings = ReconcileSettings()
    watch: WatchSettings = WatchSettings()

    @classmethod
    def operator_name(cls) -> str:
        """The operator's name (``operator_config``): field manager, Event source, default Lease name."""
        return str(cls.model_config.get("cli_prog_name") or "operator")
