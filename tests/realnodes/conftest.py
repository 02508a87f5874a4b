"""A mother cluster with a real node (kubelet, containerd, kube-proxy in a network namespace of its own), the
project's images on it, and — for the platform tests — both operators installed by their Helm charts, talking to
OpenBao and the network etcd on the host's address on the nodes' bridge."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from kubeception_testenv import ControlPlane, EtcdServer, OpenBaoServer
from kubeception_testenv.images import build_all
from kubeception_testenv.platform import Platform
from operatorkit import KubeClient
from tests.conftest import throwaway_namespace

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def real_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane(tmp_path_factory.mktemp("real-nodes"), nodes=0, real_nodes=1, images=build_all())
    with plane:
        yield plane
    assert plane.leftovers() == []


@pytest.fixture(scope="session")
def real_kube(real_plane: ControlPlane) -> KubeClient:
    return KubeClient.load(str(real_plane.kubeconfig))


@pytest.fixture
def real_namespace(real_kube: KubeClient) -> Iterator[str]:
    with throwaway_namespace(real_kube) as name:
        yield name


@pytest.fixture(scope="session")
def side_servers(
    real_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[OpenBaoServer, EtcdServer]]:
    """OpenBao and the network etcd on the host's address on the nodes' bridge, where pods reach them; both serve
    TLS, and etcd admits only clients with a certificate (what the platform runs with)."""
    workdir = tmp_path_factory.mktemp("platform")
    with (
        OpenBaoServer(workdir / "openbao", host=real_plane.host, tls=True) as openbao,
        EtcdServer(workdir / "etcd", name="flannel-etcd", host=real_plane.host, tls=True) as etcd,
    ):
        yield openbao, etcd


@pytest.fixture(scope="session")
def platform(real_plane: ControlPlane, side_servers: tuple[OpenBaoServer, EtcdServer]) -> Iterator[Platform]:
    """Both operators installed by their charts (CRDs, Vault's Kubernetes auth, helm)."""
    installed = Platform.on(real_plane, *side_servers)
    installed.install()
    yield installed
    installed.uninstall()
