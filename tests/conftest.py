"""Fixtures shared by every suite: an API client and a throwaway namespace on the local control plane.

``operator_runner`` (in-process operators) and ``apply_crds`` come from ``operatorkit.testing``."""

from __future__ import annotations

import contextlib
import uuid
from typing import TYPE_CHECKING

import pytest

from operatorkit import KubeClient
from operatorkit.kinds import NAMESPACE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kubeception_testenv import ControlPlane


@pytest.fixture(scope="session")
def kube(control_plane: ControlPlane) -> KubeClient:
    return KubeClient.load(str(control_plane.kubeconfig))


@contextlib.contextmanager
def throwaway_namespace(kube: KubeClient) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube.create(NAMESPACE, {"metadata": {"name": name}})
    yield name
    kube.delete(NAMESPACE, name)


@pytest.fixture
def namespace(kube: KubeClient) -> Iterator[str]:
    """A fresh namespace per test; operators under test watch only it, so tests never see each other."""
    with throwaway_namespace(kube) as name:
        yield name
