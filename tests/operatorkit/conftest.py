"""Fixtures for operatorkit against the real local control plane."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from kubeception_testenv import ControlPlane, wait_for
from operatorkit import KubeClient, Operator
from operatorkit.example import CRD_PATH, GREETING
from operatorkit.kinds import CUSTOM_RESOURCE_DEFINITION

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from operatorkit import Controller


@pytest.fixture(scope="session")
def greeting_crd(control_plane: ControlPlane, kube: KubeClient) -> None:
    control_plane.kubectl("apply", "-f", str(CRD_PATH))
    control_plane.kubectl(
        "wait", "--for=condition=Established", "--timeout=30s", "crd/greetings.example.kubeception.io"
    )


@pytest.fixture
def run_operator(kube: KubeClient, namespace: str) -> Iterator[Callable[..., Operator]]:
    """Start an in-process operator on the test namespace; stopped (gracefully) at teardown."""
    started: list[Operator] = []

    def start(controllers: list[Controller[Any]], **options: Any) -> Operator:
        options.setdefault("leader_election", False)
        options.setdefault("metrics_address", "127.0.0.1:0")
        options.setdefault("probe_address", "127.0.0.1:0")
        operator = Operator("test-operator", kube, controllers, namespace=namespace, **options)
        operator.start()
        started.append(operator)
        wait_for(lambda: operator.readyz() is None, timeout=30, message="operator caches to sync")
        return operator

    yield start
    for operator in started:
        operator.stop()


def greeting(name: str, namespace: str, message: str = "hello", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": GREETING.api_version,
        "kind": GREETING.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"message": message, **spec},
    }


def crd_exists(kube: KubeClient, name: str) -> bool:
    return kube.get_or_none(CUSTOM_RESOURCE_DEFINITION, name) is not None
