"""Every CRD says what its spec and status models say: each field's type, bounds, pattern, enum, requiredness and
default (``operatorkit.testing.crd_disagreements``). The models are the source; the CRDs are written by hand for
what the models cannot say (CEL rules and their messages, immutability, printer columns), and this test keeps the
two from drifting — a bound loosened in the CRD lets the API server store a spec the operator then refuses."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from aws_operator.spec import AWSConfigSpec, AWSConfigStatus
from cert_operator.spec import (
    CAConfigSpec,
    CAConfigStatus,
    CertConfigSpec,
    CertConfigStatus,
    GuestCredentialRequestSpec,
    GuestCredentialRequestStatus,
)
from flannel_operator.spec import FlannelConfigSpec, FlannelConfigStatus
from ingress_operator.spec import IngressConfigSpec, IngressConfigStatus
from kvm_operator.spec import KVMConfigSpec, KVMConfigStatus
from operatorkit.testing import crd_disagreements

if TYPE_CHECKING:
    import pydantic

CRDS = Path(__file__).parents[2] / "crds"
MODELS: dict[str, tuple[type[pydantic.BaseModel], type[pydantic.BaseModel]]] = {
    "awsconfigs.kubeception.io": (AWSConfigSpec, AWSConfigStatus),
    "caconfigs.kubeception.io": (CAConfigSpec, CAConfigStatus),
    "certconfigs.kubeception.io": (CertConfigSpec, CertConfigStatus),
    "flannelconfigs.kubeception.io": (FlannelConfigSpec, FlannelConfigStatus),
    "guestcredentialrequests.kubeception.io": (GuestCredentialRequestSpec, GuestCredentialRequestStatus),
    "ingressconfigs.kubeception.io": (IngressConfigSpec, IngressConfigStatus),
    "kvmconfigs.kubeception.io": (KVMConfigSpec, KVMConfigStatus),
}
WITHOUT_MODEL = {"domainclaims.kubeception.io"}
"""DomainClaims are written by operatorkit's claim functions only (``operatorkit.platform``), never by a person:
no spec model."""


def test_every_crd_is_checked_against_its_models():
    assert {path.stem for path in CRDS.glob("*.yaml")} == MODELS.keys() | WITHOUT_MODEL


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_crd_says_what_the_models_say(name: str):
    crd = yaml.safe_load((CRDS / f"{name}.yaml").read_text())
    spec, status = MODELS[name]
    assert crd_disagreements(crd, spec, status) == []
