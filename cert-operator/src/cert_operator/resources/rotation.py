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
from typing import TYPE_CHECKING, Any, Final

from cert_operator import key, pem
from cert_operator.resources.cluster import cluster_cert_configs
from cert_operator.spec import CAConfigSpec, CAConfigStatus, IssuerStatus, Rotation, RotationStatus, seconds
from operatorkit import Object, Resource, required, timestamps

if TYPE_CHECKING:
    from cert_operator.spec import CAContext
    from cert_operator.vault import Vault

TRUSTING: Final = "Trusting"
REISSUING: Final = "Reissuing"
RETIRING: Final = "Retiring"
COMPLETE: Final = "Complete"


def state_id(state: RotationStatus | None) -> str | None:
    return state.id if state is not None else None


def active_ca(ctx: CAContext) -> IssuerStatus:
    """The mount's default issuer, as RootCA recorded it earlier in this reconcile."""
    return required(ctx.status.ca, "ca")


def issued_cert_configs(ctx: CAContext) -> list[Object]:
    return [c for c in cluster_cert_configs(ctx, ctx.spec.cluster_id) if (c.get("status") or {}).get("serial")]


@dataclass
class CARotation(Resource[CAConfigSpec, CAConfigStatus]):
    vault: Vault

    def ensure_created(self, ctx: CAContext) -> None:
        recorded = ctx.status.rotation
        # A copy, recorded at the end: a step that fails leaves the stored phase to be resumed.
        state = recorded.model_copy(deep=True) if recorded is not None else None
        requested = ctx.spec.rotation
        if (state is None or state.phase == COMPLETE) and (requested is None or requested.id == state_id(state)):
            ctx.status.trust_bundle = pem.bundle([active_ca(ctx).certificate])
            return
        if state is None or state.phase == COMPLETE:
            assert requested is not None
            state = self._start(ctx, requested)
        overlap = datetime.timedelta(seconds=seconds(state.overlap))
        if state.phase == TRUSTING:
            self._trusting(ctx, state, overlap)
        if state.phase == REISSUING:
            self._reissuing(ctx, state, overlap)
        if state.phase == RETIRING:
            self._retire(ctx, state)
        ctx.status.rotation = state

    def _start(self, ctx: CAContext, requested: Rotation) -> RotationStatus:
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
        new = IssuerStatus.model_validate(self.vault.describe_issuer(mount, name))
        old = active_ca(ctx)
        ctx.event(
            "Normal",
            "RotationStarted",
            f"rotation {requested.id}: new CA {new.serial} trusted next to {old.serial}",
        )
        return RotationStatus(
            id=requested.id,
            overlap=requested.overlap,
            phase=TRUSTING,
            old_issuer_id=old.issuer_id,
            old_serial=old.serial,
            new_issuer_id=new.issuer_id,
            new_serial=new.serial,
            trust_bundle=pem.bundle([new.certificate, old.certificate]),
            started_at=timestamps.stamp(timestamps.now()),
        )

    def _trusting(self, ctx: CAContext, state: RotationStatus, overlap: datetime.timedelta) -> None:
        bundle = ctx.status.trust_bundle = required(state.trust_bundle, "rotation.trustBundle")
        wanted = pem.bundle_hash(bundle)
        pending = [c for c in issued_cert_configs(ctx) if c["status"].get("trustBundleHash") != wanted]
        if self._settled(ctx, state, pending, overlap, ("to carry both CAs", "carry both CAs")):
            mount = key.mount(ctx.spec.cluster_id)
            self.vault.call(
                "switch default issuer", lambda c: c.write(f"{mount}/config/issuers", default=state.new_issuer_id)
            )
            ctx.status.ca = IssuerStatus.model_validate(
                self.vault.describe_issuer(mount, self.vault.default_issuer(mount))
            )
            ctx.event(
                "Normal",
                "IssuerSwitched",
                f"rotation {state.id}: certificates are now issued by {state.new_serial}",
            )
            state.phase, state.settled_at = REISSUING, None

    def _reissuing(self, ctx: CAContext, state: RotationStatus, overlap: datetime.timedelta) -> None:
        ctx.status.trust_bundle = required(state.trust_bundle, "rotation.trustBundle")
        pending = [c for c in issued_cert_configs(ctx) if c["status"].get("caSerial") != state.new_serial]
        if self._settled(ctx, state, pending, overlap, ("to be re-issued by the new CA", "re-issued by the new CA")):
            state.phase, state.settled_at = RETIRING, None

    def _retire(self, ctx: CAContext, state: RotationStatus) -> None:
        mount, old = key.mount(ctx.spec.cluster_id), state.old_issuer_id
        ctx.status.trust_bundle = pem.bundle([active_ca(ctx).certificate])
        issuer = self.vault.read_or_none(f"read issuer {old}", f"{mount}/issuer/{old}")
        if issuer is not None:
            if not issuer["data"].get("revoked"):
                self.vault.call("revoke old CA", lambda c: c.write(f"{mount}/issuer/{old}/revoke"))
            self.vault.call("delete old CA", lambda c: c.delete(f"{mount}/issuer/{old}"))
            key_id = issuer["data"].get("key_id")
            if key_id and self.vault.read_or_none(f"read key {key_id}", f"{mount}/key/{key_id}") is not None:
                self.vault.call("delete old CA key", lambda c: c.delete(f"{mount}/key/{key_id}"))
        ctx.event("Normal", "RotationComplete", f"rotation {state.id}: old CA {state.old_serial} retired")
        ctx.set_condition("Rotating", "False", COMPLETE, f"rotation {state.id} complete")
        state.phase, state.completed_at = COMPLETE, timestamps.stamp(timestamps.now())
        state.trust_bundle = state.settled_at = None

    def _settled(
        self,
        ctx: CAContext,
        state: RotationStatus,
        pending: list[Any],
        overlap: datetime.timedelta,
        what: tuple[str, str],
    ) -> bool:
        """True once no CertConfig is pending and ``overlap`` has passed since; otherwise says what it waits for."""
        phase = state.phase
        if pending:
            names = sorted(c["metadata"]["name"] for c in pending)
            state.settled_at = None
            ctx.set_condition(
                "Rotating", "True", phase, f"waiting for {len(names)} CertConfigs {what[0]}: {', '.join(names[:5])}"
            )
            ctx.requeue_after(30)  # CertConfig changes wake us earlier
            return False
        if not state.settled_at:
            state.settled_at = timestamps.stamp(timestamps.now())
        until = timestamps.parse(state.settled_at) + overlap
        if timestamps.now() < until:
            ctx.set_condition(
                "Rotating", "True", phase, f"all CertConfigs {what[1]}; overlap until {timestamps.stamp(until)}"
            )
            ctx.requeue_after((until - timestamps.now()).total_seconds())
            return False
        return True
