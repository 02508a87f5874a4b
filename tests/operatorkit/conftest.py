"""Fixtures for operatorkit against the real local control plane."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from operatorkit.example import CRD_PATH, GREETING
from operatorkit.kinds import CUSTOM_RESOURCE_DEFINITION

if TYPE_CHECKING:
    from collections.abc import Callable

    from kubeception_testenv import ControlPlane
    from operatorkit import Controller, KubeClient, Operator


@pytest.fixture(scope="session")
def greeting_crd(control_plane: ControlPlane, kube: KubeClient) -> None:
    control_plane.kubectl("apply", "-f", str(CRD_PATH))
    control_plane.kubectl(
        "wait", "--for=condition=Established", "--timeout=30s", "crd/greetings.example.kubeception.io"
    )


@pytest.fixture
def run_operator(start_operator: Callable[..., Operator], namespace: str) -> Callable[..., Operator]:
    """An in-process operator watching only the test's namespace."""

    def start(controllers: list[Controller[Any]], **options: Any) -> Operator:
        return start_operator("test-operator", controllers, namespace=namespace, **options)

    return start


def greeting(name: str, namespace: str, message: str = "hello", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": GREETING.api_version,
        "kind": GREETING.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"message": message, **spec},
    }


def crd_exists(kube: KubeClient, name: str) -> bool:
    return kube.get_or_none(CUSTOM_RESOURCE_DEFINITION, name) is not None
