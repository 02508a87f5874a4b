"""Fixtures: cert-operator in-process against the real control plane and a real OpenBao."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from cert_operator.controller import ca_controller, cert_controller
from cert_operator.vault import Vault
from cert_operator.vault_auth import TokenAuth
from operatorkit.testing import apply_crds

if TYPE_CHECKING:
    from collections.abc import Callable

    import hvac

    from cert_operator.vault_auth import VaultAuth
    from kubeception_testenv import OpenBaoServer
    from operatorkit import KubeClient, Operator
    from operatorkit.testing import OperatorRunner

CRDS = Path(__file__).parents[2] / "crds"


@pytest.fixture(scope="session")
def cert_crds(kube: KubeClient) -> None:
    apply_crds(kube, CRDS / "caconfigs.kubeception.io.yaml", CRDS / "certconfigs.kubeception.io.yaml")


@pytest.fixture
def bao(openbao: OpenBaoServer) -> hvac.Client:
    return openbao.hvac_client()


@pytest.fixture
def start_cert_operator(
    operator_runner: OperatorRunner, openbao: OpenBaoServer, namespace: str, cert_crds: None
) -> Callable[..., Operator]:
    def start(
        address: str | None = None, auth: VaultAuth | None = None, client: KubeClient | None = None, **settings: Any
    ) -> Operator:
        """cert-operator on the test's namespace (``settings``: OperatorSettings fields, e.g. ``selector=``)."""
        vault = Vault(address or openbao.url, auth or TokenAuth(openbao.root_token), ca_cert=str(openbao.ca_file))
        settings = {"namespace": namespace, "reconcile": {"backoff_base": 0.1, "backoff_cap": 2}, **settings}
        return operator_runner.start(
            "cert-operator",
            [ca_controller(vault), cert_controller(vault, min_reissue_interval=2)],
            client=client,
            **settings,
        )

    return start
