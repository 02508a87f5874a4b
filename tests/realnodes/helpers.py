"""What the real-node tests share: pods from the project's images on the real node, and waiting on a KVMConfig."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubeception_testenv import wait_for
from kubeception_testenv.images import version
from kubeception_testenv.nodes import REAL_NODE_LABEL
from operatorkit import is_true
from operatorkit.kinds import POD
from tests.kvm.conftest import status

if TYPE_CHECKING:
    import subprocess

    from kubeception_testenv import ControlPlane
    from operatorkit import KubeClient


PYTHON_IMAGE = f"ghcr.io/kubeception/operators:{version()}"  # python3, the one image with an interpreter


def pod(name: str, namespace: str, image: str, command: list[str], labels: dict[str, str] | None = None) -> Any:
    container = {"name": "main", "image": image, "imagePullPolicy": "Never", "command": command}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {
            "nodeSelector": {REAL_NODE_LABEL: "real"},
            "terminationGracePeriodSeconds": 1,
            "containers": [container],
        },
    }


def running(kube: KubeClient, name: str, namespace: str) -> dict[str, Any]:
    """Wait until the pod is Ready; returns it."""
    wait_for(
        lambda: is_true((kube.get_or_none(POD, name, namespace) or {}).get("status", {}), "Ready"),
        timeout=90,
        message=f"pod {name} to be Ready",
    )
    return kube.get(POD, name, namespace)


def python_in(plane: ControlPlane, namespace: str, pod_name: str, code: str) -> subprocess.CompletedProcess[str]:
    return plane.kubectl("-n", namespace, "exec", pod_name, "--", "python3", "-c", code, check=False)


def connects(plane: ControlPlane, namespace: str, pod_name: str, address: str, port: int) -> bool:
    """Whether a TCP connection from the pod to ``address:port`` is accepted within 3 s."""
    code = f"import socket; socket.create_connection(({address!r}, {port}), timeout=3).close()"
    result = python_in(plane, namespace, pod_name, code)
    assert result.returncode == 0 or "timed out" in result.stderr, result.stderr  # refused or unreachable: a bug
    return result.returncode == 0


# Requests a 2-core node fits two guests in (one with 3 replicas) beside the platform; the defaults ask for more.
SMALL = {
    "etcd": {"cpu": "20m", "memory": "256Mi"},
    "apiserver": {"cpu": "50m", "memory": "512Mi"},
    "controllerManager": {"cpu": "20m", "memory": "256Mi"},
    "scheduler": {"cpu": "10m", "memory": "128Mi"},
}


def ready(kube: KubeClient, cluster: str, namespace: str) -> bool:
    return is_true(status(kube, cluster, namespace), "Ready")


def wait_ready(kube: KubeClient, cluster: str, namespace: str, timeout: float) -> None:
    try:
        wait_for(lambda: ready(kube, cluster, namespace), timeout=timeout)
    except TimeoutError as exc:
        raise AssertionError(f"KVMConfig {cluster} not Ready: {status(kube, cluster, namespace)}") from exc
