"""Fixtures for operatorkit against the real local control plane."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from operatorkit.example import CRD_PATH, GREETING
from operatorkit.kinds import CUSTOM_RESOURCE_DEFINITION
from operatorkit.testing import apply_crds

if TYPE_CHECKING:
    from collections.abc import Callable

    from operatorkit import Controller, KubeClient, Operator
    from operatorkit.testing import OperatorRunner


@pytest.fixture(scope="session")
def greeting_crd(kube: KubeClient) -> None:
    apply_crds(kube, CRD_PATH)


@pytest.fixture
def run_operator(operator_runner: OperatorRunner, namespace: str) -> Callable[..., Operator]:
    """An in-process operator watching only the test's namespace (``settings``: OperatorSettings fields)."""

    def start(controllers: list[Controller[Any]], **settings: Any) -> Operator:
        return operator_runner.start("test-operator", controllers, namespace=namespace, **settings)

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
