"""Kubeconfig files, written one way: the guest's admin kubeconfig as a Secret in the primary's namespace (where
its users read it), the components' and the nodes' (file paths), an add-on's (a token file).

The admin kubeconfig is rewritten only when the admin certificate cert-operator issued and renews (its serial) or
the endpoint users reach the API at changes — the admin Secret is read only then.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import yaml

from guestkit.certificates import ADMIN_CERTIFICATE
from guestkit.kinds import CERT_CONFIG
from guestkit.status import GuestClusterStatus
from operatorkit import Resource, is_true, owned_by
from operatorkit.kinds import SECRET

if TYPE_CHECKING:
    from guestkit.pki import GuestPKI
    from operatorkit import Context, Object

SERIAL_ANNOTATION = "kubeception.io/admin-serial"
ENDPOINT_ANNOTATION = "kubeception.io/endpoint"


def kubeconfig(
    name: str, user: str, cluster: dict[str, Any], credentials: dict[str, Any], *, sort_keys: bool = True
) -> str:
    """A kubeconfig of one cluster, one user and one context (all named ``name`` but the user). ``sort_keys``:
    kvm-operator's files have always had sorted keys, aws-operator's and the add-ons' kubectl's order; each keeps
    its own, so a file already written keeps its bytes (a changed ConfigMap or Secret is written again, and may
    roll what mounts it)."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": cluster}],
            "users": [{"name": user, "user": credentials}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
            "current-context": name,
        },
        sort_keys=sort_keys,
    )


def kubeconfig_secret(cluster_id: str) -> str:
    """The admin kubeconfig's Secret, in the primary object's namespace."""
    return f"{cluster_id}-kubeconfig"


def admin_serial(ctx: Context[Any, Any], namespace: str) -> str | None:
    """The serial of the cluster's admin certificate once cert-operator issued it (its CertConfig Ready), else None."""
    admin = ctx.cache(CERT_CONFIG).get_by_name(ADMIN_CERTIFICATE, namespace)
    serial = ((admin or {}).get("status") or {}).get("serial")
    if admin is None or not serial or not is_true(admin.get("status"), "Ready"):
        return None
    return str(serial)


@dataclass(frozen=True)
class AdminAccess:
    """Where the guest's admin reaches its API: the URL, and the name its certificate is checked against when the
    URL's host is not it (a shared proxy's address: the name goes as SNI)."""

    server: str
    tls_server_name: str | None = None
    sort_keys: bool = True
    """How the operator has always written it (:func:`kubeconfig`)."""


SpecT = TypeVar("SpecT")
GuestStatusT = TypeVar("GuestStatusT", bound=GuestClusterStatus)


class HasAdminAccess(Protocol[SpecT, GuestStatusT]):
    """The operator's side (its ``Shared``): the cluster's PKI and where its admin reaches the API."""

    def pki(self, ctx: Context[SpecT, GuestStatusT], /) -> GuestPKI: ...

    def admin_access(self, ctx: Context[SpecT, GuestStatusT], /) -> AdminAccess: ...


def admin_kubeconfig(cluster_id: str, access: AdminAccess, data: dict[str, str]) -> str:
    """The admin kubeconfig from the admin certificate's Secret data (base64 already, as kubeconfigs carry it)."""
    cluster = {"server": access.server}
    if access.tls_server_name:
        cluster["tls-server-name"] = access.tls_server_name
    return kubeconfig(
        cluster_id,
        f"{cluster_id}-admin",
        {**cluster, "certificate-authority-data": data["ca.crt"]},
        {"client-certificate-data": data["tls.crt"], "client-key-data": data["tls.key"]},
        sort_keys=access.sort_keys,
    )


@dataclass
class GuestKubeconfig(Resource[SpecT, GuestStatusT]):
    """Secret ``<clusterID>-kubeconfig`` in the primary's namespace, owned by the primary (garbage-collected with
    it): the endpoint, the cluster's CA and the admin certificate. Waits for the certificate (the operator's
    CertificatesReady condition says what is missing)."""

    cluster: HasAdminAccess[SpecT, GuestStatusT]

    def ensure_created(self, ctx: Context[SpecT, GuestStatusT]) -> None:
        pki = self.cluster.pki(ctx)
        serial = admin_serial(ctx, pki.namespace)
        if serial is None:
            return
        access = self.cluster.admin_access(ctx)
        name, server = kubeconfig_secret(pki.cluster_id), access.server
        current = ctx.cache(SECRET).get_by_name(name, ctx.namespace)
        if current is not None:
            ctx.check_owned(SECRET, current)
            annotations = current["metadata"].get("annotations", {})
            if owned_by(current, ctx.obj) and (
                annotations.get(SERIAL_ANNOTATION),
                annotations.get(ENDPOINT_ANNOTATION),
            ) == (serial, server):
                ctx.status.kubeconfig_secret = name
                return
        secret = ctx.client.get(SECRET, ADMIN_CERTIFICATE, pki.namespace)
        config = admin_kubeconfig(pki.cluster_id, access, secret["data"])
        manifest: Object = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": ctx.namespace,
                "labels": dict(pki.labels),
                "annotations": {SERIAL_ANNOTATION: serial, ENDPOINT_ANNOTATION: server},
            },
            "type": "Opaque",
            "data": {"value": base64.b64encode(config.encode()).decode()},
        }
        ctx.create_or_apply(SECRET, manifest)
        ctx.event("Normal", "KubeconfigWritten", f"Secret {name}: admin certificate {serial}, server {server}")
        ctx.status.kubeconfig_secret = name
