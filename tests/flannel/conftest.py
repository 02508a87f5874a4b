"""Fixtures: the flannel-operator in-process against the real control plane, a real etcd and kwok nodes; the
FlannelConfig manifests and readers the flannel tests (and the suites that run a network) share."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from flannel_operator.controller import flannel_controller, shared_parts
from flannel_operator.settings import FlannelSettings
from flannel_operator.spec import FLANNEL_CONFIG
from operatorkit import CLUSTER_LABEL
from operatorkit.testing import apply_crds, in_process_settings, status_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from flannel_operator.shared import Shared
    from kubeception_testenv import EtcdServer
    from operatorkit import KubeClient, Operator
    from operatorkit.testing import OperatorRunner

CRD = Path(__file__).parents[2] / "crds" / "flannelconfigs.kubeception.io.yaml"


@pytest.fixture(scope="session")
def flannel_crd(kube: KubeClient) -> None:
    apply_crds(kube, CRD)


def settings_for(etcd: EtcdServer, node_selector: str = "type=kwok", **overrides: Any) -> FlannelSettings:
    client = etcd.client_cert
    settings = in_process_settings(
        FlannelSettings,
        etcd={
            "endpoint": etcd.url,
            "ca_file": str(etcd.ca_file) if etcd.ca_file else None,
            "cert_file": str(client.cert) if client else None,
            "key_file": str(client.key) if client else None,
        },
        hosts={"node_selector": node_selector},
        images={"flannel": "flannel:test", "tools": "alpine:test"},
        **overrides,
    )
    assert isinstance(settings, FlannelSettings)
    return settings


@pytest.fixture
def start_flannel_operator(
    operator_runner: OperatorRunner, etcd_server: EtcdServer, flannel_crd: None
) -> Callable[..., tuple[Operator, Shared]]:
    def start(etcd: EtcdServer | None = None, **overrides: Any) -> tuple[Operator, Shared]:
        shared = shared_parts(settings_for(etcd or etcd_server, workers=8, **overrides))
        return operator_runner.start("flannel-operator", [flannel_controller(shared)], settings=shared.settings), shared

    return start


def flannel_config(cluster: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": FLANNEL_CONFIG.api_version,
        "kind": FLANNEL_CONFIG.kind,
        "metadata": {"name": cluster},
        "spec": {"clusterID": cluster, **spec},
    }


def status(kube: KubeClient, name: str) -> dict[str, Any]:
    return status_of(kube, FLANNEL_CONFIG, name)


def etcd_get(etcd: EtcdServer, key: str) -> Any:
    values = etcd.client().get(key)
    return json.loads(values[0]) if values else None


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def labelled_pod(name: str, namespace: str, cluster: str) -> dict[str, Any]:
    """A pod labelled with ``cluster``, as the platform labels a cluster's VM pods."""
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": {CLUSTER_LABEL: cluster}},
        "spec": {"containers": [{"name": "qemu", "image": "qemu:test"}]},
    }
