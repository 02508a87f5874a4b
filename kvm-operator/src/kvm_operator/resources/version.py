"""Which Kubernetes version the control plane moves to: the spec's, unless the skew rules forbid it — then it
stays where it is and ``Upgrading`` says why (the rest of the cluster keeps being reconciled)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kvm_operator.spec import KVMConfigSpec, KVMConfigStatus
from kvm_operator.versions import skew_problem
from operatorkit import READY, CancelReconcile, Resource

if TYPE_CHECKING:
    from kvm_operator.shared import Shared
    from kvm_operator.spec import KVMContext

UPGRADING = "Upgrading"


@dataclass
class TargetVersion(Resource[KVMConfigSpec, KVMConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: KVMContext) -> None:
        status = ctx.status
        running, wanted = status.kubernetes_version, ctx.spec.kubernetes_version
        problem = skew_problem(running, wanted, self.shared.settings.versions.supported)
        if problem is None:
            status.target_version, status.version_refused = wanted, None
            return
        status.version_refused = f"{problem}; staying at {running or 'nothing'}"
        ctx.set_condition(UPGRADING, "False", "VersionRefused", status.version_refused)
        if running is None:
            ctx.set_condition(READY, "False", "VersionRefused", problem)
            raise CancelReconcile  # nothing runs yet: no version to create the control plane with
        status.target_version = running
