"""CAConfig step: staged CA rotation, requested by a new ``spec.rotation.id``.

A CA cannot be swapped in one step without breaking someone: a peer that does not yet trust the new CA rejects
certificates it signed, and one that no longer trusts the old CA rejects certificates not yet re-issued. So:

1. ``Trusting`` — a second root issuer is generated in the same mount; the trust bundle (published ConfigMap and
   every Secret's ``ca.crt``) holds both CAs. Waits until every CertConfig of the cluster carries that bundle,
   then ``overlap`` for consumers to load it.
2. ``Reissuing`` — the new issuer becomes the mount's default; every certificate of the cluster is re-issued by
   it (and the replaced one revoked). Waits until all are, then ``overlap`` for consumers to load them.
3. ``Retiring`` — the bundle holds only the new CA; the old issuer is revoked and deleted with its key.

Every step is idempotent and the phase is kept in ``status.rotation``, so a restarted operator resumes where it
stopped. A new id during a rotation starts after the running one completes. CertConfigs that were never issued
(nothing to rotate) do not hold a stage; one that was issued and now cannot be re-issued does, and the
``Rotating`` condition names it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cert_operator import key, pem
from cert_operator.resources.cluster import cluster_cert_configs
from cert_operator.spec import CAConfigSpec, CAConfigStatus, Rotation, seconds
from operatorkit import Object, Resource, timestamps

if TYPE_CHECKING:
    from cert_operator.spec import CAContext
    from cert_operator.vault import Vault

TRUSTING, REISSUING, RETIRING, COMPLETE = "Trusting", "Reissuing", "Retiring", "Complete"


def issued_cert_configs(ctx: CAContext) -> list[Object]:
    return [c for c in cluster_cert_configs(ctx, ctx.spec.cluster_id) if (c.get("status") or {}).get("serial")]


@dataclass
class CARotation(Resource[CAConfigSpec, CAConfigStatus]):
    vault: Vault

    def ensure_created(self, ctx: CAContext) -> None:
        state: dict[str, Any] = dict(ctx.status.get("rotation") or {})
        requested = ctx.spec.rotation
        if state.get("phase") in (None, COMPLETE) and (requested is None or requested.id == state.get("id")):
            ctx.status["trustBundle"] = pem.bundle([ctx.status["ca"]["certificate"]])
            return
        if state.get("phase") in (None, COMPLETE):
            assert requested is not None
            state = self._start(ctx, requested)
        overlap = datetime.timedelta(seconds=seconds(state["overlap"]))
        if state["phase"] == TRUSTING:
            self._trusting(ctx, state, overlap)
        if state["phase"] == REISSUING:
            self._reissuing(ctx, state, overlap)
        if state["phase"] == RETIRING:
            self._retire(ctx, state)
        ctx.status["rotation"] = state

    def _start(self, ctx: CAContext, requested: Rotation) -> dict[str, Any]:
        spec, mount = ctx.spec, key.mount(ctx.spec.cluster_id)
        name = key.rotation_issuer(requested.id)
        if self.vault.read_or_none(f"read issuer {name}", f"{mount}/issuer/{name}") is None:
            params = {
                "common_name": spec.common_name,
                "ttl": f"{seconds(spec.ttl)}s",
                "key_type": spec.key_type,
                "key_bits": spec.key_bits,
                "issuer_name": name,
            }
            self.vault.call(
                "generate new root CA", lambda c: c.write(f"{mount}/issuers/generate/root/internal", **params)
            )
        new = self.vault.describe_issuer(mount, name)
        old = ctx.status["ca"]
        ctx.event(
            "Normal",
            "RotationStarted",
            f"rotation {requested.id}: new CA {new['serial']} trusted next to {old['serial']}",
        )
        return {
            "id": requested.id,
            "overlap": requested.overlap,
            "phase": TRUSTING,
            "oldIssuerID": old["issuerID"],
            "oldSerial": old["serial"],
            "newIssuerID": new["issuerID"],
            "newSerial": new["serial"],
            "trustBundle": pem.bundle([new["certificate"], old["certificate"]]),
            "startedAt": timestamps.stamp(timestamps.now()),
        }

    def _trusting(self, ctx: CAContext, state: dict[str, Any], overlap: datetime.timedelta) -> None:
        ctx.status["trustBundle"] = state["trustBundle"]
        wanted = pem.bundle_hash(state["trustBundle"])
        pending = [c for c in issued_cert_configs(ctx) if c["status"].get("trustBundleHash") != wanted]
        if self._settled(ctx, state, pending, overlap, ("to carry both CAs", "carry both CAs")):
            mount = key.mount(ctx.spec.cluster_id)
            self.vault.call(
                "switch default issuer", lambda c: c.write(f"{mount}/config/issuers", default=state["newIssuerID"])
            )
            ctx.status["ca"] = self.vault.describe_issuer(mount, self.vault.default_issuer(mount))
            ctx.event(
                "Normal",
                "IssuerSwitched",
                f"rotation {state['id']}: certificates are now issued by {state['newSerial']}",
            )
            state.update(phase=REISSUING)
            state.pop("settledAt", None)

    def _reissuing(self, ctx: CAContext, state: dict[str, Any], overlap: datetime.timedelta) -> None:
        ctx.status["trustBundle"] = state["trustBundle"]
        pending = [c for c in issued_cert_configs(ctx) if c["status"].get("caSerial") != state["newSerial"]]
        if self._settled(ctx, state, pending, overlap, ("to be re-issued by the new CA", "re-issued by the new CA")):
            state.update(phase=RETIRING)
            state.pop("settledAt", None)

    def _retire(self, ctx: CAContext, state: dict[str, Any]) -> None:
        mount, old = key.mount(ctx.spec.cluster_id), state["oldIssuerID"]
        ctx.status["trustBundle"] = pem.bundle([ctx.status["ca"]["certificate"]])
        issuer = self.vault.read_or_none(f"read issuer {old}", f"{mount}/issuer/{old}")
        if issuer is not None:
            if not issuer["data"].get("revoked"):
                self.vault.call("revoke old CA", lambda c: c.write(f"{mount}/issuer/{old}/revoke"))
            self.vault.call("delete old CA", lambda c: c.delete(f"{mount}/issuer/{old}"))
            key_id = issuer["data"].get("key_id")
            if key_id and self.vault.read_or_none(f"read key {key_id}", f"{mount}/key/{key_id}") is not None:
                self.vault.call("delete old CA key", lambda c: c.delete(f"{mount}/key/{key_id}"))
        ctx.event("Normal", "RotationComplete", f"rotation {state['id']}: old CA {state['oldSerial']} retired")
        ctx.set_condition("Rotating", "False", COMPLETE, f"rotation {state['id']} complete")
        state.update(phase=COMPLETE, completedAt=timestamps.stamp(timestamps.now()))
        state.pop("trustBundle", None)
        state.pop("settledAt", None)

    def _settled(
        self,
        ctx: CAContext,
        state: dict[str, Any],
        pending: list[Any],
        overlap: datetime.timedelta,
        what: tuple[str, str],
    ) -> bool:
        """True once no CertConfig is pending and ``overlap`` has passed since; otherwise says what it waits for."""
        phase = state["phase"]
        if pending:
            names = sorted(c["metadata"]["name"] for c in pending)
            state.pop("settledAt", None)
            ctx.set_condition(
                "Rotating", "True", phase, f"waiting for {len(names)} CertConfigs {what[0]}: {', '.join(names[:5])}"
            )
            ctx.requeue_after(30)  # CertConfig changes wake us earlier
            return False
        if not state.get("settledAt"):
            state["settledAt"] = timestamps.stamp(timestamps.now())
        until = timestamps.parse(state["settledAt"]) + overlap
        if timestamps.now() < until:
            ctx.set_condition(
                "Rotating", "True", phase, f"all CertConfigs {what[1]}; overlap until {timestamps.stamp(until)}"
            )
            ctx.requeue_after((until - timestamps.now()).total_seconds())
            return False
        return True
