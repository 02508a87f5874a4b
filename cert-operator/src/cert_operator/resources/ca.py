"""CAConfig steps: the PKI mount, the cluster's root CA, the roles, and the published CA certificate."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from cert_operator import pem
from cert_operator.spec import CERT_CONFIG, CAConfigSpec, seconds
from operatorkit import Object, ObjectResource, RequeueAfter, Resource, index_by_field
from operatorkit.kinds import CONFIG_MAP

if TYPE_CHECKING:
    from cert_operator.vault import Vault
    from operatorkit import Context, Kind


def cluster_of(ctx: Context[CAConfigSpec]) -> str:
    return str(ctx.status.get("clusterID") or ctx.spec.cluster_id)


def cluster_cert_configs(ctx: Context[CAConfigSpec]) -> list[Object]:
    """The CertConfigs of this CAConfig's cluster (same namespace), from the shared cache."""
    store = ctx.cache(CERT_CONFIG)
    store.add_indexer("cluster", index_by_field("spec", "clusterID"))
    return [c for c in store.by_index("cluster", cluster_of(ctx)) if c["metadata"].get("namespace") == ctx.namespace]


def describe_issuer(vault: Vault, mount: str, ref: str) -> dict[str, str]:
    """An issuer of the mount as recorded in status: id, name, serial, validity and certificate."""
    data = vault.call(f"read issuer {ref}", lambda c: c.read(f"{mount}/issuer/{ref}"))["data"]
    cert = pem.load(data["certificate"])
    return {
        "issuer": data.get("issuer_name") or data["issuer_id"],
        "issuerID": data["issuer_id"],
        "serial": pem.serial_hex(cert),
        "notBefore": pem.rfc3339(cert.not_valid_before_utc),
        "notAfter": pem.rfc3339(cert.not_valid_after_utc),
        "certificate": data["certificate"].strip(),
    }


def _write(client: Any, path: str) -> Any:
    return client.write(path)


def default_issuer(vault: Vault, mount: str) -> str:
    return str(vault.call("read default issuer", lambda c: c.read(f"{mount}/config/issuers"))["data"]["default"])


class PKIMount(Resource[CAConfigSpec]):
    """``pki-<cluster>`` with max lease TTL = the CA's TTL. Once no CertConfig of the cluster is left, its CAs
    are revoked and the mount removed (keys, certificates and roles with it)."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def ensure_created(self, ctx: Context[CAConfigSpec]) -> None:
        mount, ttl = ctx.spec.mount, seconds(ctx.spec.ttl)
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

    def ensure_deleted(self, ctx: Context[CAConfigSpec]) -> None:
        remaining = [c["metadata"]["name"] for c in cluster_cert_configs(ctx)]
        if remaining:
            ctx.set_condition(
                "Ready",
                "False",
                "WaitingForCertConfigs",
                f"{len(remaining)} CertConfigs of the cluster remain: {sorted(remaining)[:5]}",
            )
            raise RequeueAfter(5, "CertConfigs remain")
        mount = ctx.status.get("mount")
        if mount and self.vault.mount(mount) is not None:
            issuers = self.vault.list_keys("list issuers", lambda c: c.secrets.pki.list_issuers(mount_point=mount))
            for path in (f"{mount}/issuer/{issuer}/revoke" for issuer in issuers):
                self.vault.call("revoke CA", functools.partial(_write, path=path))
            self.vault.call("disable PKI mount", lambda c: c.sys.disable_secrets_engine(mount))
            ctx.event("Normal", "CARevoked", f"revoked the cluster's CA and removed mount {mount}")


class RootCA(Resource[CAConfigSpec]):
    """An internal root CA: the private key never leaves Vault. Status ``ca`` is the mount's default issuer, the
    one new certificates come from (a rotation switches it; see CARotation)."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def ensure_created(self, ctx: Context[CAConfigSpec]) -> None:
        spec, mount = ctx.spec, ctx.spec.mount
        issuers = self.vault.list_keys("list issuers", lambda c: c.secrets.pki.list_issuers(mount_point=mount))
        if not issuers:
            params = {
                "ttl": f"{seconds(spec.ttl)}s",
                "key_type": spec.key_type,
                "key_bits": spec.key_bits,
                "issuer_name": "root",
            }
            self.vault.call(
                "generate root CA",
                lambda c: c.secrets.pki.generate_root(
                    "internal", spec.common_name, extra_params=params, mount_point=mount
                ),
            )
            ctx.event("Normal", "CAGenerated", f"generated root CA {spec.common_name!r} in {mount}")
        ctx.status["ca"] = describe_issuer(self.vault, mount, default_issuer(self.vault, mount))

    def ensure_deleted(self, ctx: Context[CAConfigSpec]) -> None:
        return None  # the mount goes, and the CA with it (PKIMount)


class Roles(Resource[CAConfigSpec]):
    """Vault roles match the spec: created, updated when they differ, deleted when removed from the spec."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def ensure_created(self, ctx: Context[CAConfigSpec]) -> None:
        mount = ctx.spec.mount
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
        for stale in existing - {role.name for role in ctx.spec.roles}:
            self._delete_role(mount, stale)
        ctx.status["roles"] = sorted(role.name for role in ctx.spec.roles)

    def _write_role(self, mount: str, name: str, desired: dict[str, Any]) -> None:
        self.vault.call(
            f"write role {name}", lambda c: c.secrets.pki.create_or_update_role(name, desired, mount_point=mount)
        )

    def _delete_role(self, mount: str, name: str) -> None:
        self.vault.call(f"delete role {name}", lambda c: c.secrets.pki.delete_role(name, mount_point=mount))

    def _same(self, mount: str, name: str, desired: dict[str, Any]) -> bool:
        current = self.vault.call(f"read role {name}", lambda c: c.secrets.pki.read_role(name, mount_point=mount))
        data = current.get("data", {})
        for key, value in desired.items():
            have = data.get(key)
            if key == "max_ttl":
                want = int(str(value).rstrip("s") or 0)
                if int(have or 0) != want:
                    return False
            elif have != value and not (have in (None, []) and value in ([], None, "")):
                return False
        return True

    def ensure_deleted(self, ctx: Context[CAConfigSpec]) -> None:
        return None


class PublishedCA(ObjectResource[CAConfigSpec]):
    """ConfigMap ``<cluster>-ca`` with the trusted CA certificates (two during a rotation), for anything that must
    trust the cluster's CA."""

    kind = CONFIG_MAP

    def needs_finalizer(self, primary: Kind) -> bool:
        return False

    def manifest(self, ctx: Context[CAConfigSpec]) -> Object | None:
        bundle = ctx.status.get("trustBundle")
        if not bundle:
            return None
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"{cluster_of(ctx)}-ca",
                "namespace": ctx.namespace,
                "labels": {"kubeception.io/cluster": cluster_of(ctx)},
            },
            "data": {"ca.crt": bundle},
        }
