"""The benchmark's trivial controller written on kopf: per Greeting one owned ConfigMap and
status.observedGeneration. Run with ``kopf run --standalone --namespace NS bench/kopf_greeting.py``.

Idiomatic kopf: a sync handler for create/update/resume using the ``kubernetes`` client, 4 executor workers
(the same concurrency as the other two), and kopf's own progress storage left at its defaults. Kopf's
per-handler success Events are turned off, since the other implementations post none on success.
"""

from __future__ import annotations

import os
from typing import Any

import kopf
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

_core: client.CoreV1Api | None = None


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    global _core
    config.load_kube_config()  # type: ignore[no-untyped-call]
    _core = client.CoreV1Api()
    settings.execution.max_workers = int(os.environ.get("BENCH_WORKERS", "4"))
    settings.posting.enabled = False


@kopf.on.resume("example.kubeception.io", "v1alpha1", "greetings")
@kopf.on.create("example.kubeception.io", "v1alpha1", "greetings")
@kopf.on.update("example.kubeception.io", "v1alpha1", "greetings")
def reconcile(
    *, spec: kopf.Spec, name: str, namespace: str | None, body: kopf.Body, patch: kopf.Patch, **_: Any
) -> None:
    assert _core is not None
    assert namespace is not None
    data = {"message": spec.get("message", ""), "language": spec.get("language", "en")}
    configmap: dict[str, Any] = {"metadata": {"name": f"{name}-greeting", "namespace": namespace}, "data": data}
    kopf.adopt(configmap, owner=body)
    try:
        current = _core.read_namespaced_config_map(f"{name}-greeting", namespace)
    except ApiException as exc:
        if exc.status != 404:
            raise
        _core.create_namespaced_config_map(namespace, configmap)  # type: ignore[arg-type]
    else:
        if current.data != data:
            _core.patch_namespaced_config_map(f"{name}-greeting", namespace, {"data": data})
    generation = body.metadata.get("generation")
    if body.get("status", {}).get("observedGeneration") != generation:
        patch.status["observedGeneration"] = generation
