"""The KVMConfig status as the typed model writes it: the JSON the dict status wrote (pure logic, no server)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kvm_operator import metrics
from kvm_operator.resources._pool_status import report
from kvm_operator.spec import KVMConfigSpec, KVMConfigStatus
from operatorkit._runtime.writes import merge_patch
from operatorkit.testing import offline_context

if TYPE_CHECKING:
    from kvm_operator.spec import KVMContext


def context(status: dict[str, Any]) -> KVMContext:
    obj = {"metadata": {"name": "c01", "namespace": "ns", "uid": "u", "generation": 2}, "status": status}
    spec = KVMConfigSpec.model_validate({"clusterID": "c01", "kubernetesVersion": "1.36.3"})
    ctx: KVMContext = offline_context(obj, KVMConfigStatus, spec=spec, status_model=KVMConfigStatus)
    return ctx


def patch_of(ctx: KVMContext) -> dict[str, Any]:
    return merge_patch(ctx.obj.get("status") or {}, ctx.desired_status())


def test_a_cluster_without_pools_reports_an_empty_list_of_them():
    ctx = context({"clusterID": "c01"})
    report(ctx, [], None)
    patch = patch_of(ctx)
    assert patch["workerPools"] == []  # as the dict status wrote it: reported, and empty
    assert patch["workers"] == "0/0"
    assert [(c["type"], c["reason"]) for c in patch["conditions"]] == [("WorkersReady", "NoWorkers")]
    again = context({"clusterID": "c01", **patch})
    report(again, [], None)
    assert patch_of(again) == {}, "reported again the same: nothing to write"


def test_a_finished_upgrade_removes_when_it_started():
    ctx = context({"kubernetesVersion": "1.35.1", "upgradeStartedAt": "2026-12-07T09:00:00Z"})
    metrics.upgrade_finished(ctx)
    assert ctx.status.upgrade_started_at is None
    assert patch_of(ctx) == {"upgradeStartedAt": None}
