"""The CAConfig and CertConfig controllers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cert_operator.resources.ca import PKIMount, PublishedCA, Roles, RootCA
from cert_operator.resources.certificate import MANAGED_BY, Certificate
from cert_operator.resources.rotation import REISSUING, TRUSTING, CARotation
from cert_operator.spec import CA_CONFIG, CERT_CONFIG, CAConfigSpec, CAConfigStatus, CertConfigSpec, CertConfigStatus
from operatorkit import Controller, Object
from operatorkit.kinds import CONFIG_MAP, SECRET

if TYPE_CHECKING:
    from collections.abc import Callable

    from cert_operator.vault import Vault

_SELECTOR = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())


def same_cluster(
    controller: Controller[Any], interested: Callable[[Object], bool] = lambda _: True
) -> Callable[[Object], list[str]]:
    """Maps an object to the keys of ``controller``'s objects of the same cluster in the same namespace that are
    ``interested``: a CA becoming Ready (or its roles, trust or issuer changing) re-checks the cluster's
    certificates; a CertConfig changing wakes its CAConfig only while that waits for CertConfigs."""

    def keys(obj: Object) -> list[str]:
        cluster = obj.get("spec", {}).get("clusterID")
        namespace = obj["metadata"].get("namespace")
        return [
            f"{namespace}/{other['metadata']['name']}"
            for other in controller.store.objects()
            if other.get("spec", {}).get("clusterID") == cluster
            and other["metadata"].get("namespace") == namespace
            and interested(other)
        ]

    return keys


def waiting_for_cert_configs(ca: Object) -> bool:
    """A CAConfig that is being deleted or rotating waits for its cluster's CertConfigs; otherwise their every
    status change would cost it a round of Vault reads."""
    phase = (ca.get("status") or {}).get("rotation", {}).get("phase")
    return bool(ca["metadata"].get("deletionTimestamp")) or phase in (TRUSTING, REISSUING)


def ca_controller(vault: Vault, **options: Any) -> Controller[CAConfigSpec]:
    controller: Controller[CAConfigSpec] = Controller(
        name="caconfig",
        kind=CA_CONFIG,
        spec_model=CAConfigSpec,
        status_model=CAConfigStatus,
        resources=[PKIMount(vault), RootCA(vault), CARotation(vault), Roles(vault), PublishedCA()],
        owns=[CONFIG_MAP],
        **options,
    )
    controller.watches = [(CERT_CONFIG, same_cluster(controller, waiting_for_cert_configs))]
    return controller


def cert_controller(vault: Vault, **options: Any) -> Controller[CertConfigSpec]:
    controller: Controller[CertConfigSpec] = Controller(
        name="certconfig",
        kind=CERT_CONFIG,
        spec_model=CertConfigSpec,
        status_model=CertConfigStatus,
        resources=[Certificate(vault)],
        owns=[SECRET],
        owned_selector=_SELECTOR,
        **options,
    )
    controller.watches = [(CA_CONFIG, same_cluster(controller))]
    return controller
