"""Fixtures shared by every suite: an API client and a throwaway namespace on the local control plane; and the
test lanes.

``operator_runner`` (in-process operators) and ``apply_crds`` come from ``operatorkit.testing``.

Every test is in one lane, which ``make test-unit`` / ``make test-fast`` / ``make test`` select by marker:

* ``unit`` — pure logic and rendering: nothing but Python and what ``make deps`` installs (promtool, cfn-lint);
* ``servers`` — real servers on loopback (the control plane with kwok nodes, OpenBao, moto, etcd, HAProxy) or the
  binaries ``make testenv`` builds (helm, kubelet, Ignition's validator), but no real node or VM;
* ``realnodes`` — real nodes in network namespaces, QEMU VMs, the project's images.

A test's lane follows from the fixtures it uses; a module whose tests start servers themselves says so with
``pytestmark = pytest.mark.servers`` (or ``realnodes``).
"""

from __future__ import annotations

import contextlib
import uuid
from typing import TYPE_CHECKING

import pytest

from operatorkit import KubeClient
from operatorkit.kinds import NAMESPACE
from tests import browser

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from kubeception_testenv import ControlPlane


REAL_NODE_FIXTURES = frozenset({"real_plane", "real_kube", "platform", "side_servers"})
SERVER_FIXTURES = frozenset({"control_plane", "openbao", "moto_server", "etcd_server", "audited", "guests"})


def lane(item: pytest.Item) -> str:
    """The lane of ``item``: its own marker, else the strongest one its fixtures need."""
    fixtures = set(getattr(item, "fixturenames", ()))
    if item.get_closest_marker("realnodes") or fixtures & REAL_NODE_FIXTURES:
        return "realnodes"
    if item.get_closest_marker("servers") or fixtures & SERVER_FIXTURES:
        return "servers"
    return "unit"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(lane(item))


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


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[browser.Browser]:
    """A headless Chromium for one test (tests/browser.py)."""
    if not browser.available():
        pytest.fail("chromium and chromedriver are missing: `make system-deps` installs Debian's")
    with browser.chromium(tmp_path) as session:
        yield session
