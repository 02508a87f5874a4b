"""The cluster's internal root CA: the private key never leaves Vault. Status ``ca`` is the mount's default
issuer, the one new certificates come from (a rotation switches it; see CARotation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cert_operator import key
from cert_operator.spec import CAConfigSpec, CAConfigStatus, seconds
from operatorkit import Resource

if TYPE_CHECKING:
    from cert_operator.spec import CAContext
    from cert_operator.vault import Vault


@dataclass
class RootCA(Resource[CAConfigSpec, CAConfigStatus]):
    vault: Vault

    def ensure_created(self, ctx: CAContext) -> None:
        spec, mount = ctx.spec, key.mount(ctx.spec.cluster_id)
        issuers = self.vault.list_keys("list issuers", lambda c: c.secrets.pki.list_issuers(mount_point=mount))
        if not issuers:
            params = {
                "ttl": f"{seconds(spec.ttl)}s",
                "key_type": spec.key_type,
                "key_bits": spec.key_bits,
                "issuer_name": key.ROOT_ISSUER,
            }
            self.vault.call(
                "generate root CA",
                lambda c: c.secrets.pki.generate_root(
                    "internal", spec.common_name, extra_params=params, mount_point=mount
                ),
            )
            ctx.event("Normal", "CAGenerated", f"generated root CA {spec.common_name!r} in {mount}")
        ctx.status["ca"] = self.vault.describe_issuer(mount, self.vault.default_issuer(mount))
