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
        running, wanted = ctx.status.get("kubernetesVersion"), ctx.spec.kubernetes_version
        problem = skew_problem(running, wanted, self.shared.settings.versions.supported)
        if problem is None:
            ctx.status["targetVersion"] = wanted
            ctx.status.pop("versionRefused", None)
            return
        ctx.status["versionRefused"] = f"{problem}; staying at {running or 'nothing'}"
        ctx.set_condition(UPGRADING, "False", "VersionRefused", ctx.status["versionRefused"])
        if running is None:
            ctx.set_condition(READY, "False", "VersionRefused", problem)
            raise CancelReconcile  # nothing runs yet: no version to create the control plane with
        ctx.status["targetVersion"] = running
