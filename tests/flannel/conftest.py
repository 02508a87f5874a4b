"""Fixtures: the flannel-operator in-process against the real control plane, a real etcd and kwok nodes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from flannel_operator.__main__ import settings_from
from flannel_operator.controller import flannel_controller

if TYPE_CHECKING:
    from collections.abc import Callable

    from flannel_operator.settings import FlannelSettings
    from kubeception_testenv import ControlPlane, EtcdServer
    from operatorkit import Operator

CRD = Path(__file__).parents[2] / "crds" / "flannelconfigs.kubeception.io.yaml"


@pytest.fixture(scope="session")
def flannel_crd(control_plane: ControlPlane) -> None:
    control_plane.kubectl("apply", "-f", str(CRD))
    control_plane.kubectl("wait", "--for=condition=Established", "--timeout=30s", "crd/flannelconfigs.kubeception.io")


def settings_for(etcd: EtcdServer, **overrides: Any) -> FlannelSettings:
    client = etcd.client_cert
    extra = {
        "etcd_endpoint": etcd.url,
        "etcd_prefix": "/coreos.com/network",
        "etcd_ca_file": str(etcd.ca_file) if etcd.ca_file else None,
        "etcd_cert_file": str(client.cert) if client else None,
        "etcd_key_file": str(client.key) if client else None,
        "network_pool": "10.64.0.0/10",
        "network_prefix": 18,
        "vni_range": "1000-9999",
        "node_selector": "type=kwok",
        "flannel_image": "flannel:test",
        "tools_image": "alpine:test",
        "health_port_base": 21000,
        **overrides,
    }
    return settings_from(extra)


@pytest.fixture
def start_flannel_operator(
    start_operator: Callable[..., Operator], etcd_server: EtcdServer, flannel_crd: None
) -> Callable[..., tuple[Operator, FlannelSettings]]:
    def start(etcd: EtcdServer | None = None, **overrides: Any) -> tuple[Operator, FlannelSettings]:
        settings = settings_for(etcd or etcd_server, **overrides)
        return start_operator("flannel-operator", [flannel_controller(settings, workers=8)]), settings

    return start
