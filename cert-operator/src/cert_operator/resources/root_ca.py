"""The cluster's internal root CA: the private key never leaves Vault. Status ``ca`` is the mount's default
issuer, the one new certificates come from (a rotation switches it; see CARotation).

A CA is generated once, when the mount has none and the status recorded none. A recorded CA that is no longer
among the mount's issuers is lost state: reported (resources/lost.py), never silently replaced."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cert_operator import key
from cert_operator.resources.lost import clear_lost, recreate_requested, report_lost
from cert_operator.spec import CAConfigSpec, CAConfigStatus, IssuerStatus, seconds
from operatorkit import Resource

if TYPE_CHECKING:
    from cert_operator.spec import CAContext
    from cert_operator.vault import Vault


@dataclass
class RootCA(Resource[CAConfigSpec, CAConfigStatus]):
    vault: Vault

    def ensure_created(self, ctx: CAContext) -> None:
        mount = key.mount(ctx.spec.cluster_id)
        issuers = self.vault.list_keys("list issuers", lambda c: c.secrets.pki.list_issuers(mount_point=mount))
        recorded = ctx.recorded.ca
        known = {recorded.issuer_id} if recorded else set()
        if ctx.recorded.rotation is not None:
            known |= {ctx.recorded.rotation.old_issuer_id, ctx.recorded.rotation.new_issuer_id}
        if recorded is not None and not known & set(issuers) and not recreate_requested(ctx):
            raise report_lost(ctx, f"no issuer of mount {mount} is the recorded CA")
        if not issuers or (recorded is not None and recreate_requested(ctx) and not known & set(issuers)):
            self._generate(ctx, mount)
        ctx.status.ca = IssuerStatus.model_validate(self.vault.describe_issuer(mount, self.vault.default_issuer(mount)))
        clear_lost(ctx)

    def _generate(self, ctx: CAContext, mount: str) -> None:
        spec = ctx.spec
        name = key.ROOT_ISSUER if not ctx.recorded.ca else f"recreated-{ctx.generation}"
        params = {
            "common_name": spec.common_name,
            "ttl": f"{seconds(spec.ttl)}s",
            "key_type": spec.key_type,
            "key_bits": spec.key_bits,
            "issuer_name": name,
        }
        self.vault.call("generate root CA", lambda c: c.write(f"{mount}/issuers/generate/root/internal", **params))
        if ctx.recorded.ca is None:
            ctx.event("Normal", "CAGenerated", f"generated root CA {spec.common_name!r} in {mount}")
        else:
            self.vault.call("make it the default issuer", lambda c: c.write(f"{mount}/config/issuers", default=name))
            ctx.event(
                "Warning",
                "CARecreated",
                f"generated a new root CA in {mount} replacing the lost {ctx.recorded.ca.serial}, as requested: "
                "every certificate of the cluster is re-issued, and clients must trust the new CA",
            )
