"""The guest's admin kubeconfig, as Secret ``<cluster>-kubeconfig`` in the KVMConfig's namespace (where its users
read it; garbage-collected with the KVMConfig): the API endpoint users reach through HAProxy, the server name for
SNI, the cluster's CA bundle, and the admin certificate cert-operator issued and renews. Rewritten when that
certificate or the endpoint changes — read from the admin Secret only then."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kvm_operator import key
from kvm_operator.kubeconfigs import kubeconfig
from kvm_operator.shared import CERT_CONFIG, INGRESS_CONFIG
from kvm_operator.spec import KVMConfigSpec, KVMConfigStatus
from operatorkit import Resource, is_true, owned_by
from operatorkit.kinds import SECRET

if TYPE_CHECKING:
    from kvm_operator.shared import Shared
    from kvm_operator.spec import KVMContext

SERIAL_ANNOTATION = "kubeception.io/admin-serial"
ENDPOINT_ANNOTATION = "kubeception.io/endpoint"


def endpoint(ctx: KVMContext, shared: Shared) -> str:
    """What ingress-operator says users reach the API at, else what it will say."""
    ingress = ctx.cache(INGRESS_CONFIG).get_by_name(ctx.spec.cluster_id)
    published = ((ingress or {}).get("status") or {}).get("endpoints") or []
    hostname = shared.api_hostname(ctx.spec)
    port = shared.settings.routing.port
    return next((url for url in published if url.startswith(f"https://{hostname}")), None) or (
        f"https://{hostname}" + ("" if port == 443 else f":{port}")
    )


def render(cluster_id: str, server: str, hostname: str, secret: dict[str, Any]) -> str:
    data = secret["data"]
    return kubeconfig(
        cluster_id,
        f"{cluster_id}-admin",
        {"server": server, "tls-server-name": hostname, "certificate-authority-data": data["ca.crt"]},
        {"client-certificate-data": data["tls.crt"], "client-key-data": data["tls.key"]},
    )


@dataclass
class GuestKubeconfig(Resource[KVMConfigSpec, KVMConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: KVMContext) -> None:
        cluster = ctx.spec.cluster_id
        admin = ctx.cache(CERT_CONFIG).get_by_name("admin", key.namespace(cluster))
        serial = ((admin or {}).get("status") or {}).get("serial")
        if admin is None or not serial or not is_true(admin.get("status"), "Ready"):
            return  # CertificatesReady says what is missing
        name, server = key.kubeconfig_secret(cluster), endpoint(ctx, self.shared)
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
        secret = ctx.client.get(SECRET, "admin", key.namespace(cluster))
        config = render(cluster, server, self.shared.api_hostname(ctx.spec), secret)
        ctx.create_or_apply(
            SECRET,
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": name,
                    "namespace": ctx.namespace,
                    "labels": key.labels(cluster),
                    "annotations": {SERIAL_ANNOTATION: serial, ENDPOINT_ANNOTATION: server},
                },
                "type": "Opaque",
                "data": {"value": base64.b64encode(config.encode()).decode()},
            },
        )
        ctx.event("Normal", "KubeconfigWritten", f"Secret {name}: admin certificate {serial}, server {server}")
        ctx.status.kubeconfig_secret = name
