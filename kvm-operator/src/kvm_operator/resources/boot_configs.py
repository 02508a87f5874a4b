"""Each pool's boot configurations: Secret ``worker-<pool>-boot`` in the workers' namespace, an Ignition config per
node (key ``<node>.ign``, gzip'd: a hundred nodes' certificates fit a Secret) holding the node's certificate and
key from its CertConfig's Secret, the guest API's name and address, and the pool's labels and taints. A node's
entry appears once its certificate is issued — only then may its VM start — and changes when cert-operator renews
the certificate. An annotation records what the Secret was rendered from (the shared inputs' hash, each node's
certificate serial), so a certificate's Secret is read only when that node is new or its certificate changed."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from typing import TYPE_CHECKING, Any

from guestkit import CERT_CONFIG
from kvm_operator import bootconfig, key
from kvm_operator.resources._object import WorkerObjects
from kvm_operator.resources._workers import node_count, pool_specs
from operatorkit import is_true
from operatorkit.kinds import SECRET

if TYPE_CHECKING:
    from kvm_operator.shared import Shared
    from kvm_operator.spec import KVMContext, WorkerPool
    from operatorkit import Object

BOOT_ANNOTATION = "kubeception.io/boot"


def boot_inputs(ctx: KVMContext, shared: Shared, pool: WorkerPool) -> dict[str, Any]:
    """What every node of the pool boots with, besides its own name and certificate."""
    labels = {**pool.labels, key.POOL_LABEL: pool.name}
    inputs: dict[str, Any] = {
        "api_host": shared.api_hostname(ctx.spec),
        "api_port": shared.settings.routing.port,
        "api_address": shared.settings.routing.address,
        "sandbox_image": shared.settings.images.pause,
        "cluster_dns": key.cluster_dns(ctx.spec.network.service_cidr),
        "cluster_domain": key.CLUSTER_DOMAIN,
        "dns_servers": tuple(shared.dns_servers(ctx.spec)),
        "labels": labels,
        "taints": [f"{t.key}={t.value}:{t.effect}" if t.value else f"{t.key}:{t.effect}" for t in pool.taints],
    }
    if ctx.spec.addons.pod_network.enabled:  # only then: pools without the pod network keep their hash
        inputs["masquerade"] = False
    if mirror := shared.settings.registry.mirror:  # only when set: pools of an installation without one keep their hash
        registry = shared.settings.registry
        inputs["registry"] = bootconfig.RegistryMirror(mirror, tuple(registry.mirror_of), registry.address)
    return inputs


def inputs_hash(ctx: KVMContext, shared: Shared, pool: WorkerPool) -> str:
    """Changes when what the pool's nodes boot with changes (not with a renewed certificate): the pod template
    carries it, so such a change replaces the pool's VMs one at a time."""
    encoded = json.dumps(boot_inputs(ctx, shared, pool), sort_keys=True, default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()[:16]


def issued(ctx: KVMContext, node: str) -> Object | None:
    """The node's CertConfig, once its certificate is issued (Ready, with a serial)."""
    config = ctx.cache(CERT_CONFIG).get_by_name(key.node_certificate(node), key.namespace(ctx.spec.cluster_id))
    status = (config or {}).get("status") or {}
    return config if config is not None and status.get("serial") and is_true(status, "Ready") else None


def compress(config: dict[str, Any]) -> str:
    return base64.b64encode(gzip.compress(bootconfig.dumps(config), mtime=0)).decode()


class BootConfigs(WorkerObjects):
    kind = SECRET

    def desired(self, ctx: KVMContext, current: dict[str, Object]) -> dict[str, Object]:
        found: dict[str, Object] = {}
        for pool, spec in pool_specs(ctx).items():
            name = key.boot_secret(pool)
            if spec is None:  # removed: its VMs are being drained away and keep booting as they were
                if name in current:
                    found[name] = current[name]
                continue
            found[name] = self._secret(ctx, spec, current.get(name))
        return found

    def _secret(self, ctx: KVMContext, pool: WorkerPool, existing: Object | None) -> Object:
        cluster = ctx.spec.cluster_id
        nodes = [key.node_name(pool.name, n) for n in range(node_count(ctx, pool.name, pool))]
        serials = {node: config["status"]["serial"] for node in nodes if (config := issued(ctx, node))}
        inputs_now = inputs_hash(ctx, self.shared, pool)
        record = json.dumps({"inputs": inputs_now, "serials": serials}, sort_keys=True)
        recorded = (existing or {}).get("metadata", {}).get("annotations", {}).get(BOOT_ANNOTATION)
        if existing is not None and recorded == record:
            return existing
        # What is still right is kept: only a node that is new, or whose certificate changed, is read and rendered
        # (a pool growing to a hundred nodes reads each certificate once, not once per node added after it).
        before = json.loads(recorded) if recorded else {"inputs": None, "serials": {}}
        kept = ((existing or {}).get("data") or {}) if before["inputs"] == inputs_now else {}
        inputs = boot_inputs(ctx, self.shared, pool)
        data: dict[str, str] = {}
        for node, serial in serials.items():
            if before["serials"].get(node) == serial and f"{node}.ign" in kept:
                data[f"{node}.ign"] = kept[f"{node}.ign"]
                continue
            pem = ctx.client.get(SECRET, key.node_certificate(node), key.namespace(cluster))["data"]
            boot = bootconfig.WorkerBoot(
                node=node,
                ca_pem=base64.b64decode(pem["ca.crt"]).decode(),
                cert_pem=base64.b64decode(pem["tls.crt"]).decode(),
                key_pem=base64.b64decode(pem["tls.key"]).decode(),
                **inputs,
            )
            data[f"{node}.ign"] = compress(bootconfig.render(boot))
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": key.boot_secret(pool.name),
                "namespace": key.workers_namespace(cluster),
                "labels": key.pool_labels(cluster, pool.name),
                "annotations": {BOOT_ANNOTATION: record},
            },
            "type": "Opaque",
            "data": data,
        }
