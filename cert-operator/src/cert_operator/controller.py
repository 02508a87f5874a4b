"""The CAConfig and CertConfig controllers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cert_operator.resources.ca import PKIMount, PublishedCA, Roles, RootCA
from cert_operator.resources.certificate import MANAGED_BY, Certificate
from cert_operator.spec import CA_CONFIG, CERT_CONFIG, CAConfigSpec, CertConfigSpec
from operatorkit import Controller, Object
from operatorkit.kinds import CONFIG_MAP, SECRET

if TYPE_CHECKING:
    from cert_operator.vault import Vault

_SELECTOR = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())


def ca_controller(vault: Vault, **options: Any) -> Controller[CAConfigSpec]:
    def owners_of(certconfig: Object) -> list[str]:
        # A CertConfig going away may be what a deleting CAConfig waits for: wake the CAConfigs of its cluster.
        cluster = certconfig.get("spec", {}).get("clusterID")
        namespace = certconfig["metadata"].get("namespace")
        return [
            f"{namespace}/{ca['metadata']['name']}"
            for ca in controller.store.objects()
            if ca.get("spec", {}).get("clusterID") == cluster and ca["metadata"].get("namespace") == namespace
        ]

    controller: Controller[CAConfigSpec] = Controller(
        name="caconfig",
        kind=CA_CONFIG,
        spec_model=CAConfigSpec,
        resources=[PKIMount(vault), RootCA(vault), Roles(vault), PublishedCA()],
        owns=[CONFIG_MAP],
        watches=[(CERT_CONFIG, owners_of)],
        **options,
    )
    return controller


def cert_controller(vault: Vault, **options: Any) -> Controller[CertConfigSpec]:
    def certificates_of(caconfig: Object) -> list[str]:
        # A CA becoming Ready, or its roles changing, re-checks the cluster's certificates.
        cluster = caconfig.get("spec", {}).get("clusterID")
        namespace = caconfig["metadata"].get("namespace")
        return [
            f"{namespace}/{cert['metadata']['name']}"
            for cert in controller.store.objects()
            if cert.get("spec", {}).get("clusterID") == cluster and cert["metadata"].get("namespace") == namespace
        ]

    controller: Controller[CertConfigSpec] = Controller(
        name="certconfig",
        kind=CERT_CONFIG,
        spec_model=CertConfigSpec,
        resources=[Certificate(vault)],
        owns=[SECRET],
        owned_selector=_SELECTOR,
        watches=[(CA_CONFIG, certificates_of)],
        **options,
    )
    return controller
