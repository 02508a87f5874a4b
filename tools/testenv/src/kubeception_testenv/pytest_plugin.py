"""pytest fixtures for the real servers (registered through the ``pytest11`` entry point).

Session-scoped servers start once per run; when a test that used one fails, the tail of each server's log is
attached to the failure report.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from kubeception_testenv.controlplane import PLATFORM_ENV, ControlPlane
from kubeception_testenv.servers import EtcdServer, MotoServer, OpenBaoServer

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator
    from pathlib import Path

    from kubeception_testenv._process import Server

_LOG_SOURCES = "_kubeception_log_sources"


def _log_sources(obj: object) -> tuple[Server, ...]:
    if isinstance(obj, ControlPlane):
        return obj.servers
    servers = getattr(obj, "servers", None)
    if isinstance(servers, tuple):
        return servers
    from kubeception_testenv._process import Server

    return (obj,) if isinstance(obj, Server) else ()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        tails = [server.log_tail(25) for value in funcargs.values() for server in _log_sources(value)]
        if tails:
            report.sections.append(("server logs (tail)", "\n\n".join(tails)))
    return report


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok with 3 Ready fake nodes. Its networks
    are the platform's plan of every operator the session runs in-process (``KUBECEPTION_PLATFORM``)."""
    with ControlPlane(tmp_path_factory.mktemp("control-plane"), nodes=3) as plane, pytest.MonkeyPatch.context() as env:
        env.setenv(PLATFORM_ENV, json.dumps(plane.platform_plan()))
        yield plane


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    """OpenBao (Vault API) over HTTPS, in memory: ``.url``, ``.root_token`` and ``.ca_file`` (what clients verify
    it with) — ``.hvac_client()`` has all three."""
    with OpenBaoServer(tmp_path_factory.mktemp("openbao"), tls=True) as server:
        yield server


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A moto server; point boto3 at ``.url``."""
    with MotoServer(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    """A standalone etcd (separate from the control plane's), as the flannel network store: TLS with client
    certificates, as the platform runs it (``.client()`` for etcd3gw, ``.ca_file``/``.client_cert`` for others)."""
    with EtcdServer(tmp_path_factory.mktemp("etcd"), name="flannel-etcd", tls=True) as server:
        yield server


@pytest.fixture
def testenv_workdir(tmp_path: Path) -> Path:
    """A per-test directory for configuration files and logs of servers a test starts itself."""
    return tmp_path
