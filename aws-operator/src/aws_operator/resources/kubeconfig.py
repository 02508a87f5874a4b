"""The guest's admin kubeconfig, as Secret ``<clusterID>-kubeconfig`` in the AWSConfig's namespace (owned by the
AWSConfig, garbage-collected with it) — the same shape as a KVM guest's: ``api.<zone>`` on 443 (the API load
balancer), the cluster's CA and the admin certificate cert-operator issued. Rewritten only when that certificate
or the endpoint changes."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING

import yaml

from aws_operator import key
from aws_operator.shared import CERT_CONFIG, Shared
from aws_operator.spec import AWSConfigSpec, AWSConfigStatus
from operatorkit import Resource, is_true, owned_by
from operatorkit.kinds import SECRET

if TYPE_CHECKING:
    from aws_operator.spec import AWSContext

SERIAL_ANNOTATION = "kubeception.io/admin-serial"
ENDPOINT_ANNOTATION = "kubeception.io/endpoint"


def render(cluster_id: str, server: str, data: dict[str, str]) -> str:
    user = f"{cluster_id}-admin"
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": cluster_id, "cluster": {"server": server, "certificate-authority-data": data["ca.crt"]}}
            ],
            "users": [
                {
                    "name": user,
                    "user": {"client-certificate-data": data["tls.crt"], "client-key-data": data["tls.key"]},
                }
            ],
            "contexts": [{"name": cluster_id, "context": {"cluster": cluster_id, "user": user}}],
            "current-context": cluster_id,
        },
        sort_keys=False,
    )


@dataclass
class GuestKubeconfig(Resource[AWSConfigSpec, AWSConfigStatus]):
    shared: Shared

    def ensure_created(self, ctx: AWSContext) -> None:
        cluster = ctx.spec.cluster_id
        admin = ctx.cache(CERT_CONFIG).get_by_name("admin", key.namespace(cluster))
        serial = ((admin or {}).get("status") or {}).get("serial")
        server = ctx.status.endpoint or f"https://api.{self.shared.zone(ctx)}"
        if admin is None or not serial or not is_true(admin.get("status"), "Ready"):
            return
        name = key.kubeconfig_secret(cluster)
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
        config = render(cluster, server, secret["data"])
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
