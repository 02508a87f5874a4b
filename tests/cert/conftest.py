"""Fixtures: cert-operator in-process against the real control plane and a real OpenBao."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import hvac
import pytest

from cert_operator.controller import ca_controller, cert_controller
from cert_operator.vault import Vault
from cert_operator.vault_auth import TokenAuth

if TYPE_CHECKING:
    from collections.abc import Callable

    from cert_operator.vault_auth import VaultAuth
    from kubeception_testenv import ControlPlane, OpenBaoServer
    from operatorkit import KubeClient, Operator

CRDS = Path(__file__).parents[2] / "crds"


@pytest.fixture(scope="session")
def cert_crds(control_plane: ControlPlane) -> None:
    for name in ("caconfigs.kubeception.io", "certconfigs.kubeception.io"):
        control_plane.kubectl("apply", "-f", str(CRDS / f"{name}.yaml"))
        control_plane.kubectl("wait", "--for=condition=Established", "--timeout=30s", f"crd/{name}")


@pytest.fixture
def bao(openbao: OpenBaoServer) -> hvac.Client:
    return hvac.Client(url=openbao.url, token=openbao.root_token)


@pytest.fixture
def start_cert_operator(
    start_operator: Callable[..., Operator], openbao: OpenBaoServer, namespace: str, cert_crds: None
) -> Callable[..., Operator]:
    def start(address: str | None = None, auth: VaultAuth | None = None, client: KubeClient | None = None) -> Operator:
        vault = Vault(address or openbao.url, auth or TokenAuth(openbao.root_token))
        controllers = [
            ca_controller(vault, backoff_base=0.1, backoff_cap=2),
            cert_controller(vault, backoff_base=0.1, backoff_cap=2),
        ]
        return start_operator("cert-operator", controllers, namespace=namespace, client=client)

    return start
