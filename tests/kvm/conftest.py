"""Fixtures: kvm-operator in-process with a real cert-operator (real OpenBao) on the kwok control plane; the
control plane's pods run on kwok nodes (scheduled, Running and Ready as kwok plays them), which is what the
orchestration needs — the real-node tests run the same pods for real."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from kubeception_testenv import wait_for
from kvm_operator.controller import kvm_controller
from kvm_operator.settings import KVMSettings
from kvm_operator.shared import Shared
from kvm_operator.spec import KVM_CONFIG
from operatorkit.testing import apply_crds, condition_of, in_process_settings, status_of
from tests.cert.conftest import bao, cert_crds, start_cert_operator

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from operatorkit import KubeClient, Object, Operator
    from operatorkit.testing import OperatorRunner

CRDS = Path(__file__).parents[2] / "crds"
__all__ = ["bao", "cert_crds", "start_cert_operator"]
VERSIONS = ["1.35.2", "1.36.3", "1.36.4", "1.37.0"]


@pytest.fixture(scope="session")
def kvm_crds(kube: KubeClient) -> None:
    apply_crds(
        kube,
        *(
            CRDS / f"{name}.kubeception.io.yaml"
            for name in ("kvmconfigs", "flannelconfigs", "ingressconfigs", "domainclaims")
        ),
    )


@pytest.fixture
def start_kvm(
    operator_runner: OperatorRunner, start_cert_operator: Callable[..., Operator], kvm_crds: None, kube: KubeClient
) -> Iterator[Callable[..., Operator]]:
    def start(**overrides: Any) -> Operator:
        start_cert_operator(namespace=None)  # the PKI lives in each cluster's own namespace
        settings = in_process_settings(
            KVMSettings,
            versions={"supported": VERSIONS},
            reconcile={"backoff_base": 0.1, "backoff_cap": 2},
            **overrides,
        )
        assert isinstance(settings, KVMSettings)
        return operator_runner.start("kvm-operator", [kvm_controller(Shared(settings))], settings=settings)

    yield start
    for config in kube.list(KVM_CONFIG)["items"]:
        kube.delete(KVM_CONFIG, config["metadata"]["name"], config["metadata"]["namespace"])
    wait_for(lambda: not kube.list(KVM_CONFIG)["items"], timeout=120, message="KVMConfigs gone")


def kvm_config(name: str, namespace: str, version: str = "1.36.3", **spec: Any) -> Object:
    return {
        "apiVersion": KVM_CONFIG.api_version,
        "kind": KVM_CONFIG.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterID": name, "kubernetesVersion": version, **spec},
    }


def status(kube: KubeClient, name: str, namespace: str) -> dict[str, Any]:
    return status_of(kube, KVM_CONFIG, name, namespace)


def condition(kube: KubeClient, name: str, namespace: str, type_: str) -> dict[str, Any]:
    return condition_of(kube, KVM_CONFIG, name, namespace, type_=type_) or {}
