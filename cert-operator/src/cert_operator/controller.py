"""The CAConfig and CertConfig controllers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cert_operator.resources.ca import PKIMount, PublishedCA, Roles, RootCA
from cert_operator.resources.certificate import MANAGED_BY, Certificate
from cert_operator.resources.rotation import CARotation
from cert_operator.spec import CA_CONFIG, CERT_CONFIG, CAConfigSpec, CertConfigSpec
from operatorkit import Controller, Object
from operatorkit.kinds import CONFIG_MAP, SECRET

if TYPE_CHECKING:
    from collections.abc import Callable

    from cert_operator.vault import Vault

_SELECTOR = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())


def same_cluster(controller: Controller[Any]) -> Callable[[Object], list[str]]:
    """Maps an object to the keys of ``controller``'s objects of the same cluster in the same namespace: a
    CertConfig going away wakes the deleting CAConfig waiting for it; a CA becoming Ready (or its roles changing)
    re-checks the cluster's certificates."""

    def keys(obj: Object) -> list[str]:
        cluster = obj.get("spec", {}).get("clusterID")
        namespace = obj["metadata"].get("namespace")
        return [
            f"{namespace}/{other['metadata']['name']}"
            for other in controller.store.objects()
            if other.get("spec", {}).get("clusterID") == cluster and other["metadata"].get("namespace") == namespace
        ]

    return keys


def ca_controller(vault: Vault, **options: Any) -> Controller[CAConfigSpec]:
    controller: Controller[CAConfigSpec] = Controller(
        name="caconfig",
        kind=CA_CONFIG,
        spec_model=CAConfigSpec,
        resources=[PKIMount(vault), RootCA(vault), CARotation(vault), Roles(vault), PublishedCA()],
        owns=[CONFIG_MAP],
        **options,
    )
    controller.watches = [(CERT_CONFIG, same_cluster(controller))]
    return controller


def cert_controller(vault: Vault, **options: Any) -> Controller[CertConfigSpec]:
    controller: Controller[CertConfigSpec] = Controller(
        name="certconfig",
        kind=CERT_CONFIG,
        spec_model=CertConfigSpec,
        resources=[Certificate(vault)],
        owns=[SECRET],
        owned_selector=_SELECTOR,
        **options,
    )
    controller.watches = [(CA_CONFIG, same_cluster(controller))]
    return controller
