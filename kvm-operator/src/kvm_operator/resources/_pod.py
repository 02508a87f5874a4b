"""What every control-plane pod shares: the restricted security context, spreading across mother nodes, and
certificate Secrets mounted read-only (the kubelet refreshes them on renewal; the components reload them)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from kvm_operator import key

if TYPE_CHECKING:
    from kvm_operator.shared import Shared
    from kvm_operator.spec import KVMContext, Resources

PKI = "/etc/kubernetes/pki"
UID = 65532
HOSTNAME = "kubernetes.io/hostname"


def kubernetes_image(shared: Shared, version: str) -> str:
    return f"{shared.settings.images.kubernetes}:v{version}"


def certificate_volume(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The volume and mount of CertConfig ``name``'s Secret at ``<PKI>/<name>/{tls.crt,tls.key,ca.crt}``."""
    return (
        {"name": name, "secret": {"secretName": name, "defaultMode": 0o440}},
        {"name": name, "mountPath": f"{PKI}/{name}", "readOnly": True},
    )


def container(
    shared: Shared,
    component: str,
    image: str,
    command: list[str],
    resources: Resources,
    mounts: list[dict[str, Any]],
    ports: list[dict[str, Any]],
    probe: dict[str, Any],
    live_path: str | None = None,
) -> dict[str, Any]:
    """``probe`` checks readiness; startup and liveness check ``live_path`` on the same port when given (as kubeadm's
    static pods: ``/readyz`` says "send me requests", ``/livez`` "do not restart me"). Each probe its own dict."""

    def check(path: str | None) -> dict[str, Any]:
        copied = copy.deepcopy(probe)
        if path is not None:
            copied["httpGet"]["path"] = path
        return copied

    return {
        "name": component,
        "image": image,
        "imagePullPolicy": shared.settings.images.pull_policy,
        "command": command,
        "ports": ports,
        "readinessProbe": {**check(None), "periodSeconds": 5, "failureThreshold": 3},
        # A loaded mother answers late. A container has 5 minutes to start before liveness counts, and a liveness
        # check may take 10 s (kubeadm's static pods: 4 minutes, 15 s). With a 15 s delay and the 1 s default, three
        # starved API servers of one guest were killed mid-start again and again, and never served.
        "startupProbe": {**check(live_path), "periodSeconds": 10, "failureThreshold": 30, "timeoutSeconds": 10},
        "livenessProbe": {**check(live_path), "periodSeconds": 10, "failureThreshold": 6, "timeoutSeconds": 10},
        "resources": {
            "requests": {"cpu": resources.cpu, "memory": resources.memory},
            "limits": {"memory": resources.memory},
        },
        "volumeMounts": mounts,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def pod_spec(
    ctx: KVMContext,
    shared: Shared,
    component: str,
    containers: list[dict[str, Any]],
    volumes: list[dict[str, Any]],
) -> dict[str, Any]:
    """Restricted pods; with 3 replicas, one per mother node (the API survives a node) or, with the ``preferred``
    placement setting, spread where the mother has nodes for it."""
    cluster = ctx.spec.cluster_id
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "fsGroup": UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": containers,
        "volumes": volumes,
    }
    if shared.settings.placement.node_selector:
        spec["nodeSelector"] = dict(shared.settings.placement.node_selector)
    if ctx.spec.control_plane.replicas > 1:
        spec["affinity"] = anti_affinity(key.selector(cluster, component), shared.settings.placement.spread)
    return spec


def anti_affinity(selector: dict[str, str], spread: str) -> dict[str, Any]:
    """The pods ``selector`` matches each on a mother node of its own: ``required``, or preferred (where the mother
    has nodes for it)."""
    term: dict[str, Any] = {"labelSelector": {"matchLabels": selector}, "topologyKey": HOSTNAME}
    if spread == "required":
        return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": term}]
        }
    }


def rollout(ctx: KVMContext, shared: Shared) -> dict[str, Any]:
    """A Deployment's rolling update: one replica at a time and, where a surge pod can be placed, never below the
    current count. With one replica per node required, a surge pod would wait for a node that may not exist: a
    roll takes one replica down first (the other two keep answering)."""
    if ctx.spec.control_plane.replicas > 1 and shared.settings.placement.spread == "required":
        return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def https_probe(path: str, port: int | str) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port, "scheme": "HTTPS"}}
