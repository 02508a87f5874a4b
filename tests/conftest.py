"""Fixtures shared by every suite: an API client and a throwaway namespace on the local control plane."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from kubeception_testenv import wait_for
from operatorkit import KubeClient, Operator
from operatorkit.kinds import NAMESPACE

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from kubeception_testenv import ControlPlane
    from operatorkit import Controller


@pytest.fixture(scope="session")
def kube(control_plane: ControlPlane) -> KubeClient:
    return KubeClient.load(str(control_plane.kubeconfig))


@pytest.fixture
def namespace(kube: KubeClient) -> Iterator[str]:
    """A fresh namespace per test; operators under test watch only it, so tests never see each other."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube.create(NAMESPACE, {"metadata": {"name": name}})
    yield name
    kube.delete(NAMESPACE, name)


@pytest.fixture
def start_operator(kube: KubeClient) -> Iterator[Callable[..., Operator]]:
    """Start an in-process operator (no leader election, probes on free ports) once its caches are synced;
    every operator started is stopped gracefully at teardown."""
    started: list[Operator] = []

    def start(
        name: str, controllers: list[Controller[Any]], *, client: KubeClient | None = None, **options: Any
    ) -> Operator:
        options.setdefault("leader_election", False)
        options.setdefault("metrics_address", "127.0.0.1:0")
        options.setdefault("probe_address", "127.0.0.1:0")
        operator = Operator(name, client or kube, controllers, **options)
        operator.start()
        started.append(operator)
        wait_for(lambda: operator.readyz() is None, timeout=30, message=f"{name} caches to sync")
        return operator

    yield start
    for operator in started:
        operator.stop()
