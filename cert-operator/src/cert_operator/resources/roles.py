"""Vault roles match the spec: created, updated when they differ, deleted when removed from the spec — but for the
guest credential issuer's ``guest-user-*`` roles, which it keeps in the same mount (the spec cannot name them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cert_operator import key
from cert_operator.spec import CAConfigSpec, CAConfigStatus, seconds
from operatorkit import Resource

if TYPE_CHECKING:
    from cert_operator.spec import CAContext
    from cert_operator.vault import Vault


@dataclass
class Roles(Resource[CAConfigSpec, CAConfigStatus]):
    vault: Vault

    def ensure_created(self, ctx: CAContext) -> None:
        mount = key.mount(ctx.spec.cluster_id)
        existing = set(self.vault.list_keys("list roles", lambda c: c.secrets.pki.list_roles(mount_point=mount)))
        for role in ctx.spec.roles:
            desired: dict[str, Any] = {
                "allowed_domains": role.allowed_domains,
                "allow_subdomains": role.allow_subdomains,
                "allow_bare_domains": role.allow_bare_domains,
                "allow_ip_sans": role.allow_ip_sans,
                "allow_any_name": role.allow_any_name,
                "organization": role.organizations,
                "max_ttl": f"{seconds(role.max_ttl)}s" if role.max_ttl else "0",
                "key_type": "rsa",
                "key_bits": 2048,
                "enforce_hostnames": not role.allow_any_name,
            }
            if role.name in existing and self._same(mount, role.name, desired):
                continue
            self._write_role(mount, role.name, desired)
        issuers = {name for name in existing if name.startswith(key.GUEST_ROLE_PREFIX)}
        for stale in existing - issuers - {role.name for role in ctx.spec.roles}:
            self._delete_role(mount, stale)
        ctx.status.roles = sorted(role.name for role in ctx.spec.roles)

    def _write_role(self, mount: str, name: str, desired: dict[str, Any]) -> None:
        self.vault.call(
            f"write role {name}", lambda c: c.secrets.pki.create_or_update_role(name, desired, mount_point=mount)
        )

    def _delete_role(self, mount: str, name: str) -> None:
        self.vault.call(f"delete role {name}", lambda c: c.secrets.pki.delete_role(name, mount_point=mount))

    def _same(self, mount: str, name: str, desired: dict[str, Any]) -> bool:
        current = self.vault.call(f"read role {name}", lambda c: c.secrets.pki.read_role(name, mount_point=mount))
        data = current.get("data", {})
        for field, value in desired.items():
            have = data.get(field)
            if field == "max_ttl":
                want = int(str(value).rstrip("s") or 0)
                if int(have or 0) != want:
                    return False
            elif have != value and not (have in (None, []) and value in ([], None, "")):
                return False
        return True
