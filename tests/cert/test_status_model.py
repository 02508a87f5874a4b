"""The CAConfig and CertConfig statuses as the typed models write them: the JSON the dict statuses wrote (pure
logic, no server)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, cast

from cert_operator.resources.certificate import Certificate
from cert_operator.resources.rotation import CARotation
from cert_operator.spec import CAConfigSpec, CAConfigStatus, CertConfigStatus
from operatorkit import Status
from operatorkit._runtime.writes import merge_patch
from operatorkit.testing import offline_context

if TYPE_CHECKING:
    from cert_operator.vault import Vault
    from operatorkit import Context

StatusT = TypeVar("StatusT", bound=Status)
CA = {
    "issuer": "root",
    "issuerID": "i1",
    "serial": "01",
    "notBefore": "2026-01-01T00:00:00Z",
    "notAfter": "2036-01-01T00:00:00Z",
    "certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
}
NO_VAULT = cast("Vault", None)  # the steps below make no Vault call


def context(model: type[StatusT], status: dict[str, Any], spec: Any = None) -> Context[Any, StatusT]:
    obj = {"metadata": {"name": "x", "namespace": "ns", "uid": "u", "generation": 1}, "status": status}
    ctx: Context[Any, StatusT] = offline_context(obj, model, spec=spec, status_model=model)
    return ctx


def patch_of(ctx: Context[Any, Any]) -> dict[str, Any]:
    return merge_patch(ctx.obj.get("status") or {}, ctx.desired_status())


def test_a_ca_without_roles_records_an_empty_list_of_them():
    ctx = context(CAConfigStatus, {"mount": "pki-c01"})
    ctx.status.roles = []
    assert patch_of(ctx) == {"roles": []}


def test_without_a_rotation_the_trust_bundle_is_the_active_ca_and_no_rotation_is_recorded():
    spec = CAConfigSpec.model_validate({"clusterID": "c01", "commonName": "c01 CA"})
    ctx = context(CAConfigStatus, {"ca": CA}, spec)
    CARotation(vault=NO_VAULT).ensure_created(ctx)
    assert patch_of(ctx) == {"trustBundle": CA["certificate"] + "\n"}
    complete = {"id": "r1", "overlap": "5m", "phase": "Complete", "oldIssuerID": "i0", "oldSerial": "00"}
    complete |= {"newIssuerID": "i1", "newSerial": "01", "startedAt": "t0", "completedAt": "t1"}
    done = context(CAConfigStatus, {"ca": CA, "rotation": complete}, spec.model_copy(update={"rotation": None}))
    CARotation(vault=NO_VAULT).ensure_created(done)
    assert set(patch_of(done)) == {"trustBundle"}, "a completed rotation stays as recorded"


def test_pending_revocations_go_from_the_status_once_none_is_left():
    ctx = context(CertConfigStatus, {"serial": "0a", "pendingRevocations": []})
    Certificate(vault=NO_VAULT)._revoke_pending(ctx, "c01")
    assert patch_of(ctx) == {"pendingRevocations": None}
    none = context(CertConfigStatus, {"serial": "0a"})
    Certificate(vault=NO_VAULT)._revoke_pending(none, "c01")
    assert patch_of(none) == {}
