"""The cluster's PKI mount ``pki-<cluster>``, max lease TTL = the CA's TTL, claimed by its CAConfig.

The mount's description records the CAConfig that enabled it (enabling is atomic in Vault: a second CAConfig for
the same cluster, in any namespace, finds the mount taken and is refused naming the holder; it never touches the
mount). A mount the status recorded that is gone is lost state, reported, not recreated. Once no CertConfig of
the cluster is left, the holder revokes its CAs and removes the mount (keys, certificates and roles with it).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cert_operator import key
from cert_operator.resources.lost import recreate_requested, report_lost
from cert_operator.spec import CAConfigSpec, CAConfigStatus, seconds
from guestkit import CA_CONFIG
from operatorkit import READY, NotOwned, Owner, Resource, check_claim

if TYPE_CHECKING:
    from cert_operator.spec import CAContext
    from cert_operator.vault import Vault


def _write(client: Any, path: str) -> Any:
    return client.write(path)


def _holder_exists(ctx: CAContext, holder: Owner) -> bool:
    if holder.kind != CA_CONFIG.kind:
        return True
    current = ctx.cache(CA_CONFIG).get_by_name(holder.name, holder.namespace)
    if current is None and holder.namespace != ctx.namespace:
        return True  # outside what this operator watches: it may well exist; never taken over
    return current is not None and current["metadata"].get("uid") == holder.uid


@dataclass
class PKIMount(Resource[CAConfigSpec, CAConfigStatus]):
    vault: Vault

    def ensure_created(self, ctx: CAContext) -> None:
        mount, ttl = key.mount(ctx.spec.cluster_id), seconds(ctx.spec.ttl)
        existing = self.vault.mount(mount)
        if existing is None:
            if ctx.recorded.mount == mount and ctx.recorded.ca is not None and not recreate_requested(ctx):
                raise report_lost(ctx, f"PKI mount {mount} no longer exists")
            self.vault.call(
                "enable PKI mount",
                lambda c: c.sys.enable_secrets_engine(
                    "pki", path=mount, description=ctx.owner.encode(), config={"max_lease_ttl": f"{ttl}s"}
                ),
            )
            ctx.event("Normal", "MountCreated", f"enabled PKI mount {mount}")
        else:
            self._check_claim(ctx, mount, existing)
            if int(existing.get("config", {}).get("max_lease_ttl", 0)) != ttl:
                self.vault.call(
                    "tune PKI mount", lambda c: c.sys.tune_mount_configuration(mount, max_lease_ttl=f"{ttl}s")
                )
        ctx.status.cluster_id = ctx.spec.cluster_id
        ctx.status.mount = mount

    def _check_claim(self, ctx: CAContext, mount: str, existing: dict[str, Any]) -> None:
        description = existing.get("description") or None
        if Owner.decode(description) is None and ctx.recorded.mount == mount:
            description = None  # enabled by an earlier version for this very CAConfig (its status says so)
        holder = Owner.decode(description)
        what = f"Vault PKI mount {mount}"
        try:
            mine = check_claim(
                description, what, ctx.obj, owner_exists=holder is not None and _holder_exists(ctx, holder)
            )
        except NotOwned as exc:
            ctx.set_condition(READY, "False", "NotOwned", str(exc))
            raise
        if not mine or Owner.decode(existing.get("description")) != ctx.owner:
            self.vault.call(
                "claim PKI mount", lambda c: c.sys.tune_mount_configuration(mount, description=ctx.owner.encode())
            )
            ctx.event("Normal", "MountClaimed", f"recorded this CAConfig as the owner of {what}")

    def ensure_deleted(self, ctx: CAContext) -> None:
        mount = ctx.recorded.mount
        existing = self.vault.mount(mount) if mount else None
        if mount is None or existing is None:
            return
        holder = Owner.decode(existing.get("description"))
        if holder is None or holder.uid != ctx.owner.uid:
            ctx.event(
                "Warning",
                "NotDeleted",
                f"Vault PKI mount {mount} belongs to {holder or 'someone else'}; left untouched",
            )
            return
        issuers = self.vault.list_keys("list issuers", lambda c: c.secrets.pki.list_issuers(mount_point=mount))
        for path in (f"{mount}/issuer/{issuer}/revoke" for issuer in issuers):
            self.vault.call("revoke CA", functools.partial(_write, path=path))
        self.vault.call("disable PKI mount", lambda c: c.sys.disable_secrets_engine(mount))
        ctx.event("Normal", "CARevoked", f"revoked the cluster's CA and removed mount {mount}")
