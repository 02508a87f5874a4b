"""The cluster's PKI mount ``pki-<cluster>``, max lease TTL = the CA's TTL. Once no CertConfig of the cluster is
left, its CAs are revoked and the mount removed (keys, certificates and roles with it)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cert_operator import key
from cert_operator.resources.cluster import cluster_cert_configs
from cert_operator.spec import CAConfigSpec, CAConfigStatus, seconds
from operatorkit import READY, RequeueAfter, Resource

if TYPE_CHECKING:
    from cert_operator.spec import CAContext
    from cert_operator.vault import Vault


def _write(client: Any, path: str) -> Any:
    return client.write(path)


@dataclass
class PKIMount(Resource[CAConfigSpec, CAConfigStatus]):
    vault: Vault

    def ensure_created(self, ctx: CAContext) -> None:
        mount, ttl = key.mount(ctx.spec.cluster_id), seconds(ctx.spec.ttl)
        existing = self.vault.mount(mount)
        if existing is None:
            self.vault.call(
                "enable PKI mount",
                lambda c: c.sys.enable_secrets_engine("pki", path=mount, config={"max_lease_ttl": f"{ttl}s"}),
            )
            ctx.event("Normal", "MountCreated", f"enabled PKI mount {mount}")
        elif int(existing.get("config", {}).get("max_lease_ttl", 0)) != ttl:
            self.vault.call("tune PKI mount", lambda c: c.sys.tune_mount_configuration(mount, max_lease_ttl=f"{ttl}s"))
        ctx.status["clusterID"] = ctx.spec.cluster_id
        ctx.status["mount"] = mount

    def ensure_deleted(self, ctx: CAContext) -> None:
        cluster = ctx.recorded.cluster_id
        if cluster is None:
            return  # never got as far as a mount
        remaining = [c["metadata"]["name"] for c in cluster_cert_configs(ctx, cluster)]
        if remaining:
            ctx.set_condition(
                READY,
                "False",
                "WaitingForCertConfigs",
                f"{len(remaining)} CertConfigs of the cluster remain: {sorted(remaining)[:5]}",
            )
            raise RequeueAfter(5, "CertConfigs remain")
        mount = ctx.recorded.mount
        if mount and self.vault.mount(mount) is not None:
            issuers = self.vault.list_keys("list issuers", lambda c: c.secrets.pki.list_issuers(mount_point=mount))
            for path in (f"{mount}/issuer/{issuer}/revoke" for issuer in issuers):
                self.vault.call("revoke CA", functools.partial(_write, path=path))
            self.vault.call("disable PKI mount", lambda c: c.sys.disable_secrets_engine(mount))
            ctx.event("Normal", "CARevoked", f"revoked the cluster's CA and removed mount {mount}")
